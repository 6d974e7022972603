//! `warren completion SHELL` and `warren man DIR`: generated from the CLI definition, they
//! cover every visible command and option and none of the internal ones. bash itself runs
//! the completion function; the man pages are checked against `--help`'s command lists.

use std::collections::BTreeSet;
use std::path::Path;

use warren_testkit::{cli::Cli, sandbox_test};

const WARREN: Cli = Cli(env!("CARGO_BIN_EXE_warren"));

/// The internal commands, hidden from `--help`.
const INTERNAL: [&str; 4] = ["__supervise", "__lab-supervise", "__lab-keeper", "__reap"];

/// What bash's completion offers for the words `words` (the last one being completed), with
/// the script `warren completion bash` printed, sourced as bash-completion would.
fn bash_complete(script: &Path, words: &[&str]) -> Vec<String> {
    let cword = words.len() - 1;
    let prev = if cword > 0 { words[cword - 1] } else { "" };
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let code = format!(
        "source {}; COMP_WORDS=({}); COMP_CWORD={cword}; _warren warren '{}' '{prev}'; \
         printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display(),
        quoted.join(" "),
        words[cword],
    );
    warren_testkit::run("bash", &["-c", &code])
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The subcommands listed under "Commands:" in `warren ARGS --help` (without `help`).
fn help_commands(args: &[&str]) -> Vec<String> {
    let mut argv = args.to_vec();
    argv.push("--help");
    let text = WARREN.ok(&argv);
    text.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        // A command's line; its wrapped help continues further indented.
        .filter(|l| !l[2..].starts_with(' '))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_owned)
        .collect()
}

sandbox_test! {
    fn completion_scripts_offer_visible_commands_and_options_and_no_internal_one() {
        let bash = WARREN.ok(&["completion", "bash"]);
        let script = Path::new("/run/warren.bash");
        std::fs::write(script, &bash).unwrap();
        warren_testkit::run("bash", &["-n", "/run/warren.bash"]);

        // Commands at the top: every one `--help` lists, none of the internal ones.
        let top = bash_complete(script, &["warren", ""]);
        for c in help_commands(&[]) {
            assert!(top.contains(&c), "{c} not offered: {top:?}");
        }
        for c in INTERNAL {
            assert!(!top.iter().any(|t| t == c), "{c} offered: {top:?}");
        }
        assert_eq!(bash_complete(script, &["warren", "net"]), ["netns", "network"]);
        // Subcommands and options deep down (options of a deferred definition included).
        let lab = bash_complete(script, &["warren", "lab", ""]);
        for c in help_commands(&["lab"]) {
            assert!(lab.contains(&c), "lab {c} not offered: {lab:?}");
        }
        assert_eq!(
            bash_complete(script, &["warren", "pod", "create", "web", "--ad"]),
            ["--adopt-netns"]
        );
        assert_eq!(
            bash_complete(script, &["warren", "completion", "fi"]),
            ["fish"]
        );

        for (shell, marker) in [
            ("zsh", "#compdef warren"),
            ("fish", "complete -c warren"),
            ("elvish", "edit:completion:arg-completer[warren]"),
            ("powershell", "Register-ArgumentCompleter"),
        ] {
            let s = WARREN.ok(&["completion", shell]);
            assert!(s.contains(marker), "{shell}: no {marker}");
            assert!(s.contains("adopt-netns"), "{shell}: no --adopt-netns");
            for c in INTERNAL {
                assert!(!s.contains(c), "{shell} offers {c}");
            }
        }

        let (code, err) = WARREN.fails(&["completion", "tcsh"]);
        assert_eq!(code, 2);
        assert!(err.starts_with("warren: invalid value 'tcsh' for '<SHELL>'"), "{err}");
    }
}

sandbox_test! {
    fn man_pages_for_every_visible_command_and_a_refused_directory() {
        let out = WARREN.ok(&["man", "/run/man/man1"]);
        let printed: BTreeSet<String> = out.lines().map(str::to_owned).collect();
        let files: BTreeSet<String> = std::fs::read_dir("/run/man/man1")
            .unwrap()
            .map(|e| format!("/run/man/man1/{}", e.unwrap().file_name().to_string_lossy()))
            .collect();
        // What it prints is what it wrote, and nothing else is there (no temporary file).
        assert_eq!(printed, files);
        let page = |name: &str| std::fs::read_to_string(format!("/run/man/man1/{name}.1"));
        // A page for warren, each command `--help` lists, and each subcommand of those.
        let mut want = vec!["warren".to_owned()];
        for c in help_commands(&[]) {
            for sub in help_commands(&[&c]) {
                want.push(format!("warren-{c}-{sub}"));
            }
            want.push(format!("warren-{c}"));
        }
        for name in &want {
            let text = page(name).unwrap_or_else(|e| panic!("{name}.1: {e}"));
            let title = format!(".TH {name} 1 ");
            assert!(text.contains(&title), "{name}.1 has no {title}");
            assert!(text.contains(".SH NAME"), "{name}.1 has no NAME");
        }
        for f in &files {
            assert!(!INTERNAL.iter().any(|c| f.contains(c)), "internal page {f}");
        }
        // Options and their help are there, in roff (a hyphen is `\-`).
        let pod = page("warren-pod-create").unwrap();
        assert!(pod.contains("\\-\\-adopt\\-netns"), "{pod}");
        let up = page("warren-lab-up").unwrap();
        assert!(up.contains(".SH SYNOPSIS"), "{up}");

        // A directory that cannot be made: one line naming it, nothing written.
        std::fs::write("/run/file", "x").unwrap();
        let (code, err) = WARREN.fails(&["man", "/run/file/man1"]);
        assert_eq!(code, 1);
        assert_eq!(err, "warren: man pages in /run/file/man1: Not a directory (os error 20)\n");
        assert_eq!(std::fs::read_to_string("/run/file").unwrap(), "x");
    }
}
