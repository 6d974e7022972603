//! [`Lazy`]: a subcommand's arguments, defined only when the command line names it.
//!
//! clap builds every argument of every subcommand before it parses anything. warren has many
//! subcommands, several with subcommands of their own, and runs as one short process per
//! command, so building them all cost about as much as a command's own work (0.6-0.9 ms of a
//! 10 ms `pod create`). Wrapping a subcommand's arguments in `Lazy` hands their definition to
//! [`clap::Command::defer`]: the subcommand's name, aliases and one-line help are there from
//! the start (`warren --help` lists them), its arguments only once the parser enters it.

use clap::{ArgMatches, Command, Error, FromArgMatches};

/// The arguments `T` of a subcommand, defined when the parser enters that subcommand.
#[derive(Debug, Clone)]
pub struct Lazy<T>(pub T);

impl<T: FromArgMatches> FromArgMatches for Lazy<T> {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, Error> {
        T::from_arg_matches(m).map(Lazy)
    }

    fn from_arg_matches_mut(m: &mut ArgMatches) -> Result<Self, Error> {
        T::from_arg_matches_mut(m).map(Lazy)
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), Error> {
        self.0.update_from_arg_matches(m)
    }

    fn update_from_arg_matches_mut(&mut self, m: &mut ArgMatches) -> Result<(), Error> {
        self.0.update_from_arg_matches_mut(m)
    }
}

impl<T: clap::Args> clap::Args for Lazy<T> {
    fn augment_args(cmd: Command) -> Command {
        cmd.defer(define::<T>)
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        cmd.defer(define_for_update::<T>)
    }

    fn group_id() -> Option<clap::Id> {
        T::group_id()
    }
}

/// Define `T`'s arguments on `cmd`, keeping the help the subcommand was declared with: `T`'s
/// own doc comment would otherwise replace it, as the definition now comes last.
fn define<T: clap::Args>(cmd: Command) -> Command {
    keep_about(cmd, T::augment_args)
}

fn define_for_update<T: clap::Args>(cmd: Command) -> Command {
    keep_about(cmd, T::augment_args_for_update)
}

fn keep_about(cmd: Command, define: fn(Command) -> Command) -> Command {
    let about = cmd.get_about().cloned();
    let long = cmd.get_long_about().cloned();
    let mut cmd = define(cmd);
    if let Some(a) = about {
        cmd = cmd.about(a);
    }
    if let Some(l) = long {
        cmd = cmd.long_about(l);
    }
    cmd
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use crate::{Cli, Command};

    #[test]
    fn the_whole_command_tree_is_valid_once_built() {
        // Builds every deferred subcommand and checks clap's invariants over all of them.
        Cli::command().debug_assert();
    }

    #[test]
    fn a_deferred_subcommand_keeps_its_declared_help_and_gains_its_arguments() {
        let root = Cli::command();
        let declared = root
            .find_subcommand("pod")
            .unwrap()
            .get_about()
            .unwrap()
            .to_string();
        assert!(declared.starts_with("Pods"), "{declared}");
        assert_eq!(
            root.find_subcommand("pod")
                .unwrap()
                .get_subcommands()
                .count(),
            0,
            "not defined before the parser enters it"
        );
        let mut built = root;
        built.build();
        let pod = built.find_subcommand("pod").unwrap();
        assert_eq!(pod.get_about().unwrap().to_string(), declared);
        let create = pod.find_subcommand("create").unwrap();
        assert!(
            create
                .get_arguments()
                .any(|a| a.get_long() == Some("adopt-netns"))
        );
    }

    #[test]
    fn parsing_reaches_the_deferred_arguments() {
        let cli = Cli::try_parse_from([
            "warren", "-j", "pod", "create", "web", "--net", "front", "-p", "8080:80",
        ])
        .unwrap();
        assert!(cli.global.json);
        assert!(matches!(cli.command, Command::Pod(_)));
        let err = Cli::try_parse_from(["warren", "pod", "create", "--bogus", "x"]).unwrap_err();
        assert!(err.to_string().contains("--bogus"), "{err}");
    }
}
