//! `qmail init`: write a profile for one mailbox from a `raida` provisioning file (or one
//! AN) and the RAIDA addresses, after checking that it loads.

use std::io::Write;
use std::net::SocketAddrV4;
use std::path::Path;

use super::args::InitArgs;
use super::files::{read_bounded, write_atomically};
use super::limits::PROVISION_FILE_SIZE_BYTES_MAX;
use super::output::emit;
use super::CliError;
use crate::identity::MailboxId;
use crate::limits::RAIDA_COUNT;
use crate::profile::Profile;

pub(super) fn init<W: Write>(
    profile_path: &Path,
    args: &InitArgs,
    out: &mut W,
) -> Result<(), CliError> {
    let ans = match (&args.provision, &args.an) {
        (Some(path), None) => ans_from_provision(path, args.mailbox)?,
        (None, Some(an)) => vec![an.to_ascii_lowercase(); RAIDA_COUNT],
        _ => {
            return Err(CliError::Usage(
                "give exactly one of --provision and --an".to_string(),
            ))
        }
    };
    let raidas = raida_addresses(args)?;
    let text = profile_text(args, &ans, &raidas);
    let source_name = profile_path.display().to_string();
    // The written file must load: check it as `Profile::load` will.
    Profile::parse(&text, &source_name).map_err(CliError::Profile)?;
    if profile_path.exists() && !args.force {
        return Err(CliError::Usage(format!(
            "{source_name} exists; pass --force to overwrite it"
        )));
    }
    write_atomically(profile_path, text.as_bytes())?;
    emit(
        out,
        &format!(
            "wrote {source_name} for mailbox {} (beacon RAIDA {})\n",
            args.mailbox,
            beacon_in(args, args.mailbox)
        ),
    )
}

fn beacon_in(args: &InitArgs, mailbox: MailboxId) -> u8 {
    args.beacon
        .iter()
        .rev()
        .find(|(listed, _)| *listed == mailbox)
        .map_or_else(
            || crate::directory::BeaconRule::SerialModulo.beacon_of(mailbox),
            |(_, raida)| *raida,
        )
}

fn raida_addresses(args: &InitArgs) -> Result<Vec<SocketAddrV4>, CliError> {
    match (&args.raidas[..], args.base_addr) {
        (raidas, None) if raidas.len() == RAIDA_COUNT => Ok(raidas.to_vec()),
        ([], Some(base)) => {
            let last_port = u32::from(base.port()) + RAIDA_COUNT as u32 - 1;
            if base.port() == 0 || last_port > u32::from(u16::MAX) {
                return Err(CliError::Usage(format!(
                    "--base-addr {base} cannot hold {RAIDA_COUNT} consecutive ports"
                )));
            }
            Ok((0..RAIDA_COUNT as u16)
                .map(|index| SocketAddrV4::new(*base.ip(), base.port() + index))
                .collect())
        }
        (raidas, None) => Err(CliError::Usage(format!(
            "--raidas lists {} addresses; give exactly {RAIDA_COUNT}",
            raidas.len()
        ))),
        _ => Err(CliError::Usage(
            "give exactly one of --raidas and --base-addr".to_string(),
        )),
    }
}

fn toml_string(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

fn profile_text(args: &InitArgs, ans: &[String], raidas: &[SocketAddrV4]) -> String {
    assert_eq!(ans.len(), RAIDA_COUNT, "one AN per RAIDA");
    assert_eq!(raidas.len(), RAIDA_COUNT, "one address per RAIDA");
    let mut text = format!(
        "# qmail profile of mailbox {}, written by `qmail init`. Format: `qmail --help`.\n\n\
         [identity]\ndenomination = {}\nserial_number = {}\n",
        args.mailbox, args.mailbox.denomination, args.mailbox.serial_number
    );
    if ans.iter().all(|an| Some(an) == ans.first()) {
        text.push_str(&format!("an = {}\n", toml_string(&ans[0])));
    } else {
        text.push_str("ans = [\n");
        for (index, an) in ans.iter().enumerate() {
            text.push_str(&format!("  {}, # RAIDA {index}\n", toml_string(an)));
        }
        text.push_str("]\n");
    }
    text.push_str(&format!(
        "upload_locker = {}\nfee_locker = {}\n\n[directory]\nraidas = [\n",
        toml_string(&args.upload_locker),
        toml_string(&args.fee_locker)
    ));
    for (index, addr) in raidas.iter().enumerate() {
        text.push_str(&format!("  \"{addr}\", # RAIDA {index}\n"));
    }
    text.push_str("]\ndefault_beacon = \"serial_mod_25\"\n");
    for (mailbox, raida) in &args.beacon {
        text.push_str(&format!(
            "\n[[directory.beacon]]\ndenomination = {}\nserial_number = {}\nraida = {raida}\n",
            mailbox.denomination, mailbox.serial_number
        ));
    }
    text
}

/// The 25 ANs (lowercase hex) of `mailbox` in a `raida` provisioning file: its `[[coin]]`
/// entry's `an` (repeated) or `ans`.
fn ans_from_provision(path: &Path, mailbox: MailboxId) -> Result<Vec<String>, CliError> {
    let bytes = read_bounded(
        "read provisioning file",
        path,
        PROVISION_FILE_SIZE_BYTES_MAX,
    )?;
    let content = |reason: String| CliError::Content {
        path: path.to_path_buf(),
        reason,
    };
    let text = String::from_utf8(bytes).map_err(|_| content("not UTF-8 text".to_string()))?;
    let table: toml::Table = text
        .parse()
        .map_err(|error: toml::de::Error| content(error.message().to_string()))?;
    let coins = table
        .get("coin")
        .and_then(toml::Value::as_array)
        .ok_or_else(|| content("no [[coin]] entries".to_string()))?;
    let coin = coins
        .iter()
        .find(|coin| {
            coin.get("denomination").and_then(toml::Value::as_integer)
                == Some(i64::from(mailbox.denomination))
                && coin.get("serial_number").and_then(toml::Value::as_integer)
                    == Some(i64::from(mailbox.serial_number))
        })
        .ok_or_else(|| content(format!("no [[coin]] for mailbox {mailbox}")))?;
    let as_hex = |value: &toml::Value| value.as_str().map(str::to_ascii_lowercase);
    if let Some(an) = coin.get("an").and_then(as_hex) {
        return Ok(vec![an; RAIDA_COUNT]);
    }
    let ans: Option<Vec<String>> = coin
        .get("ans")
        .and_then(toml::Value::as_array)
        .map(|ans| ans.iter().map(as_hex).collect::<Option<Vec<String>>>())
        .and_then(|ans| ans);
    match ans {
        Some(ans) if ans.len() == RAIDA_COUNT => Ok(ans),
        _ => Err(content(format!(
            "the [[coin]] of mailbox {mailbox} has neither `an` nor {RAIDA_COUNT} `ans`"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::test_support::run_now;
    use crate::cli::Cli;
    use clap::Parser;
    use std::fs;
    use std::path::PathBuf;

    fn provision_file(dir: &Path) -> PathBuf {
        let ans: Vec<String> = (0..RAIDA_COUNT)
            .map(|i| format!("\"{:032x}\"", i + 1))
            .collect();
        let text = format!(
            "[[coin]]\ndenomination = 1\nserial_number = 1000\nan = \"{:032x}\"\n\n\
             [[coin]]\ndenomination = -2\nserial_number = 7\nans = [{}]\n\n\
             [[locker]]\ncode = \"PAYME\"\nbalance = 5\n",
            0xAA,
            ans.join(", ")
        );
        let path = dir.join("prov.toml");
        fs::write(&path, text).expect("write");
        path
    }

    #[test]
    fn init_writes_a_profile_that_loads() {
        let dir = tempfile::tempdir().expect("tempdir");
        let provision = provision_file(dir.path());
        let profile = dir.path().join("p.toml");
        let args = |mailbox: &str, force: bool| {
            let mut args = vec![
                "--profile".to_string(),
                profile.display().to_string(),
                "init".to_string(),
                "--mailbox".to_string(),
                mailbox.to_string(),
                "--provision".to_string(),
                provision.display().to_string(),
                "--base-addr".to_string(),
                "127.0.0.1:18000".to_string(),
                "--upload-locker".to_string(),
                "PAYME".to_string(),
                "--fee-locker".to_string(),
                "FEES \"x\"".to_string(),
                "--beacon".to_string(),
                "-2.7=9".to_string(),
            ];
            if force {
                args.push("--force".to_string());
            }
            Cli::try_parse_from(std::iter::once("qmail".to_string()).chain(args)).expect("cli")
        };
        let (result, out) = run_now(args("-2.7", false));
        result.expect("init");
        assert!(out.contains("beacon RAIDA 9"), "{out}");
        let loaded = Profile::load(&profile).expect("loads");
        assert_eq!(loaded.identity.mailbox, MailboxId::new(-2, 7));
        assert_eq!(
            loaded.identity.ans[24],
            [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 25]
        );
        assert_eq!(loaded.directory.beacon_of(MailboxId::new(-2, 7)), 9);
        assert_eq!(
            loaded.directory.addr(24),
            Some("127.0.0.1:18024".parse().expect("a"))
        );
        // Existing file kept without --force.
        let (result, _) = run_now(args("1.1000", false));
        assert!(matches!(result, Err(CliError::Usage(_))));
        let (result, _) = run_now(args("1.1000", true));
        result.expect("forced");
        let mut same_an = [0u8; 16];
        same_an[15] = 0xAA;
        let loaded = Profile::load(&profile).expect("loads");
        assert_eq!(loaded.identity.ans, [same_an; RAIDA_COUNT]);
        // A coin the file does not hold.
        let (result, _) = run_now(args("1.999", true));
        let error = result.expect_err("unknown coin");
        assert!(
            error.to_string().contains("no [[coin]] for mailbox 1.999"),
            "{error}"
        );
    }
}
