//! Checks that tie scenario keys together; each error names the dependent key and points at
//! its value (or at its section when the key is absent).

use knobs::{ConfigError, Table};

use super::{SimConfig, Topology, Workload};
use crate::faults::Faults;

/// `[workload]` against `[sim]` and `[topology]`.
pub(super) fn workload(
    table: &Table<'_>,
    workload: &mut Workload,
    sim: &SimConfig,
    topology: &Topology,
) -> Result<(), ConfigError> {
    let stripes = u16::from(workload.data_stripes) + 1;
    if stripes > u16::from(topology.raidas) {
        let message = format!(
            "{} data stripes + 1 parity need {stripes} RAIDAs, topology.raidas is {}",
            workload.data_stripes, topology.raidas
        );
        return Err(table.error("data_stripes", message));
    }
    shapes(table, workload, topology)?;
    if u32::from(workload.recipients_max) > topology.mailboxes {
        let message = format!(
            "{} exceeds topology.mailboxes = {}",
            workload.recipients_max, topology.mailboxes
        );
        return Err(table.error("recipients_max", message));
    }
    let cc_bcc = workload.cc_fraction + workload.bcc_fraction;
    if cc_bcc > 1.0 {
        let message = format!("cc_fraction + bcc_fraction = {cc_bcc} exceeds 1");
        return Err(table.error("bcc_fraction", message));
    }
    let file_size_max = workload.file_size_bytes_max();
    for (name, value) in [
        (
            "attachment_size_bytes_max",
            &mut workload.attachment_size_bytes_max,
        ),
        ("body_size_bytes_max", &mut workload.body_size_bytes_max),
    ] {
        if !table.was_set(name) {
            *value = (*value).min(file_size_max);
        } else if *value > file_size_max {
            let message = format!("{value} is out of range 0..={file_size_max}");
            return Err(table.error(name, message));
        }
    }
    if workload.send_window_s > sim.duration_s {
        let message = format!(
            "{} is out of range 1..={} (sim.duration_s)",
            workload.send_window_s, sim.duration_s
        );
        return Err(table.error("send_window_s", message));
    }
    Ok(())
}

/// The shape knobs: widest email against the RAIDAs, outage bounds in order.
fn shapes(
    table: &Table<'_>,
    workload: &mut Workload,
    topology: &Topology,
) -> Result<(), ConfigError> {
    if !table.was_set("data_stripes_max") {
        workload.data_stripes_max = workload.data_stripes;
    }
    let widest_xor = u16::from(workload.data_stripes_max) + 1;
    if widest_xor > u16::from(topology.raidas) {
        let message = format!(
            "{} data stripes + 1 parity need {widest_xor} RAIDAs, topology.raidas is {}",
            workload.data_stripes_max, topology.raidas
        );
        return Err(table.error("data_stripes_max", message));
    }
    let widest_rs = u16::from(workload.data_stripes_max) + u16::from(workload.rs_parity_max);
    if workload.reed_solomon_fraction > 0.0 && widest_rs > u16::from(topology.raidas) {
        let message = format!(
            "data_stripes_max {} + rs_parity_max {} need {widest_rs} RAIDAs, \
             topology.raidas is {}",
            workload.data_stripes_max, workload.rs_parity_max, topology.raidas
        );
        return Err(table.error("rs_parity_max", message));
    }
    if !table.was_set("device_outage_s_max") {
        workload.device_outage_s_max = workload
            .device_outage_s_max
            .max(workload.device_outage_s_min);
    }
    if workload.device_outage_s_max < workload.device_outage_s_min {
        let message = format!(
            "{} is below device_outage_s_min = {}",
            workload.device_outage_s_max, workload.device_outage_s_min
        );
        return Err(table.error("device_outage_s_max", message));
    }
    Ok(())
}

/// `[faults]`: latency bounds in order, crash steps for a step fraction.
pub(super) fn faults(table: &Table<'_>, faults: &mut Faults) -> Result<(), ConfigError> {
    let network = &mut faults.network;
    if !table.was_set("latency_ms_max") {
        network.latency_ms_max = network.latency_ms_max.max(network.latency_ms_min);
    }
    if network.latency_ms_max < network.latency_ms_min {
        let message = format!(
            "{} is below latency_ms_min = {}",
            network.latency_ms_max, network.latency_ms_min
        );
        return Err(table.error("latency_ms_max", message));
    }
    let crash = &faults.crash;
    if crash.crash_at_step_fraction > 0.0 && crash.crash_at_steps.is_empty() {
        let message = "is above 0 but faults.crash_at_steps is empty";
        return Err(table.error("crash_at_step_fraction", message));
    }
    Ok(())
}
