//! `nullspace schema [COMMAND…]`: the command tree as JSON, walked from clap's
//! own definition so it cannot disagree with the parser. The global flags are listed
//! once (`global_flags`) and again in every command's `flags`, marked `"global": true`,
//! since every command accepts them.

use std::any::TypeId;
use std::path::PathBuf;

use clap::{Arg, ArgAction, Args, Command, CommandFactory};
use nullspace_types::{MachineId, PreviewGrantId, SnapshotId, TemplateBuildId};
use serde_json::{json, Value};

use super::preview::{Expires, TimeSpan};
use super::{Ctx, Outcome, OK};
use crate::args::{
    CopySpec, JsonMap, KeyValue, MachineOrSnapshot, OctalMode, SignalArg, UserName, WriteFiles,
};
use crate::cli::Cli;
use crate::error::CliError;
use crate::exit;
use crate::output;

/// Arguments of `schema`.
#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Only this command and those below it, e.g. `sandbox exec`.
    #[arg(value_name = "COMMAND")]
    pub command: Vec<String>,
}

/// Prints the schema (always JSON).
pub fn run(_ctx: &Ctx, args: &SchemaArgs) -> Outcome {
    output::json(&schema(&args.command)?)?;
    Ok(OK)
}

/// The schema of the whole tree, or of the subtree at `path`.
pub fn schema(path: &[String]) -> Result<Value, CliError> {
    let root = Cli::command();
    let mut node = &root;
    for name in path {
        node = node
            .get_subcommands()
            .find(|c| c.get_name() == name || c.get_all_aliases().any(|a| a == name))
            .ok_or_else(|| CliError::UnknownCommand {
                path: path.join(" "),
            })?;
    }
    let globals: Vec<&Arg> = root.get_arguments().filter(|a| a.is_global_set()).collect();
    let global: Vec<Value> = globals.iter().copied().map(arg_json).collect();
    let mut commands = Vec::new();
    let prefix = path.to_vec();
    walk(node, &prefix, &global, &mut commands);
    Ok(json!({
        "name": root.get_name(),
        "version": env!("CARGO_PKG_VERSION"),
        "global_flags": global,
        "commands": commands,
        "exit_codes": exit::table_json(),
        "exec_exit_code": "`sandbox exec`, `quickstart`, `sandbox process stream|attach` and `sandbox pty create|connect` exit with the command's own exit code when it ran (128+N when signal N killed it)",
    }))
}

/// Appends `cmd` (named by `path`) and every command below it; `global` are the
/// flags every command accepts.
fn walk(cmd: &Command, path: &[String], global: &[Value], out: &mut Vec<Value>) {
    let (positionals, flags): (Vec<&Arg>, Vec<&Arg>) = cmd
        .get_arguments()
        .filter(|a| !a.is_global_set() && !a.is_hide_set())
        .partition(|a| a.is_positional());
    let subcommands: Vec<&str> = cmd.get_subcommands().map(Command::get_name).collect();
    let mut flags: Vec<Value> = flags.into_iter().map(arg_json).collect();
    flags.extend(global.iter().cloned());
    out.push(json!({
        "command": path.join(" "),
        "about": cmd.get_about().map(ToString::to_string),
        "aliases": cmd.get_all_aliases().collect::<Vec<_>>(),
        "arguments": positionals.into_iter().map(arg_json).collect::<Vec<_>>(),
        "flags": flags,
        "subcommands": subcommands,
        "runnable": !cmd.is_subcommand_required_set() || subcommands.is_empty(),
    }));
    for sub in cmd.get_subcommands() {
        let mut child = path.to_vec();
        child.push(sub.get_name().to_owned());
        walk(sub, &child, global, out);
    }
}

/// The value type of `arg`, from its action and value parser.
fn type_name(arg: &Arg) -> &'static str {
    match arg.get_action() {
        ArgAction::SetTrue | ArgAction::SetFalse => return "bool",
        ArgAction::Count => return "count",
        _ => {}
    }
    if arg.get_action().takes_values() && !arg.get_possible_values().is_empty() {
        return "enum";
    }
    let id = arg.get_value_parser().type_id();
    let known: [(TypeId, &'static str); 22] = [
        (TypeId::of::<String>(), "string"),
        (TypeId::of::<PathBuf>(), "path"),
        (TypeId::of::<i64>(), "integer"),
        (TypeId::of::<u16>(), "integer"),
        (TypeId::of::<u32>(), "integer"),
        (TypeId::of::<u64>(), "integer"),
        (TypeId::of::<f64>(), "number"),
        (TypeId::of::<bool>(), "bool"),
        (TypeId::of::<MachineId>(), "machine_id"),
        (TypeId::of::<SnapshotId>(), "snapshot_id"),
        (TypeId::of::<MachineOrSnapshot>(), "machine_or_snapshot_id"),
        (TypeId::of::<KeyValue>(), "key_value"),
        (TypeId::of::<JsonMap>(), "json_object"),
        (TypeId::of::<OctalMode>(), "octal_mode"),
        (TypeId::of::<WriteFiles>(), "json_write_files"),
        (TypeId::of::<UserName>(), "user_name"),
        (TypeId::of::<SignalArg>(), "signal"),
        (TypeId::of::<PreviewGrantId>(), "preview_grant_id"),
        (TypeId::of::<TimeSpan>(), "duration"),
        (TypeId::of::<Expires>(), "duration"),
        (TypeId::of::<TemplateBuildId>(), "template_build_id"),
        (TypeId::of::<CopySpec>(), "src_dest"),
    ];
    known
        .iter()
        .find(|(t, _)| id == *t)
        .map_or("string", |(_, name)| name)
}

fn arg_json(arg: &Arg) -> Value {
    let repeatable = matches!(arg.get_action(), ArgAction::Append)
        || arg.get_num_args().is_some_and(|n| n.max_values() > 1);
    // A switch (`--json`) takes no value: no value name, no possible values.
    let takes_value = arg.get_action().takes_values();
    let value_name = arg
        .get_value_names()
        .and_then(|v| v.first())
        .filter(|_| takes_value)
        .map(ToString::to_string);
    let possible_values: Vec<String> = if takes_value {
        arg.get_possible_values()
            .iter()
            .map(|p| p.get_name().to_owned())
            .collect()
    } else {
        Vec::new()
    };
    json!({
        "name": arg.get_id().as_str(),
        "long": arg.get_long().map(|l| format!("--{l}")),
        "short": arg.get_short().map(|s| format!("-{s}")),
        "value_name": value_name,
        "type": type_name(arg),
        "required": arg.is_required_set(),
        "repeatable": repeatable,
        "default": arg.get_default_values().first().map(|v| v.to_string_lossy().into_owned()),
        "possible_values": possible_values,
        "after_double_dash": arg.is_last_set(),
        "trailing": arg.is_trailing_var_arg_set(),
        "global": arg.is_global_set(),
        "help": arg.get_help().map(ToString::to_string),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find<'a>(schema: &'a Value, command: &str) -> &'a Value {
        schema["commands"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["command"] == command)
            .unwrap_or_else(|| panic!("no {command}"))
    }

    #[test]
    fn every_command_is_listed_with_typed_flags() {
        let s = schema(&[]).unwrap();
        let exec = find(&s, "sandbox exec");
        let id = &exec["arguments"][0];
        assert_eq!(id["name"], "id");
        assert_eq!(id["type"], "machine_id");
        assert_eq!(id["required"], true);
        let flag = |c: &Value, name: &str| {
            c["flags"]
                .as_array()
                .unwrap()
                .iter()
                .chain(c["arguments"].as_array().unwrap())
                .find(|f| f["name"] == name)
                .cloned()
                .unwrap_or_else(|| panic!("no {name}"))
        };
        assert_eq!(flag(exec, "envs")["type"], "key_value");
        assert_eq!(flag(exec, "envs")["repeatable"], true);
        assert_eq!(flag(exec, "timeout")["type"], "number");
        let command = flag(exec, "command");
        assert_eq!(command["trailing"], true, "no `--` needed");
        assert_eq!(command["after_double_dash"], false);
        assert_eq!(command["repeatable"], true);
        assert_eq!(command["value_name"], "COMMAND");
        assert_eq!(flag(exec, "no_stdin")["type"], "bool");
        assert_eq!(flag(exec, "user")["type"], "user_name");
        assert_eq!(
            flag(find(&s, "sandbox file rm"), "no_recursive")["type"],
            "bool"
        );
        let read = find(&s, "sandbox file read");
        assert_eq!(flag(read, "offset")["type"], "integer");
        assert_eq!(flag(read, "limit")["type"], "integer");
        assert_eq!(flag(read, "user")["type"], "user_name");
        let create = find(&s, "sandbox create");
        assert_eq!(flag(create, "template")["type"], "string");
        assert_eq!(flag(create, "env_json")["type"], "json_object");
        assert_eq!(flag(create, "snapshot_id")["type"], "snapshot_id");
        assert_eq!(flag(create, "auto_resume")["type"], "bool");
        assert_eq!(flag(create, "no_auto_resume")["long"], "--no-auto-resume");
        for name in ["on_timeout", "timeout_action"] {
            assert_eq!(flag(create, name)["type"], "enum");
            assert_eq!(
                flag(create, name)["possible_values"],
                json!(["kill", "pause", "hibernate"])
            );
        }
        let timeout_set = find(&s, "sandbox timeout set");
        assert_eq!(flag(timeout_set, "action")["type"], "enum");
        let fork = find(&s, "sandbox fork");
        assert_eq!(flag(fork, "count")["type"], "integer");
        assert_eq!(flag(fork, "metadata")["repeatable"], true);
        assert_eq!(flag(fork, "id")["type"], "machine_id");
        assert_eq!(
            flag(find(&s, "sandbox resume"), "target")["type"],
            "machine_or_snapshot_id"
        );
        assert_eq!(flag(find(&s, "snapshot get"), "id")["type"], "snapshot_id");
        assert_eq!(
            flag(find(&s, "snapshot list"), "sandbox_id")["type"],
            "machine_id"
        );
        let list = find(&s, "sandbox list");
        assert_eq!(flag(list, "state")["type"], "enum");
        assert_eq!(flag(list, "state")["repeatable"], true);
        assert_eq!(flag(list, "all")["type"], "bool");
        assert_eq!(
            flag(&find(&s, "sandbox file chmod").clone(), "mode")["type"],
            "octal_mode"
        );
        assert_eq!(find(&s, "sandbox")["aliases"][0], "machine");
        for c in [
            "sandbox metrics",
            "sandbox snapshot create",
            "snapshot create",
            "snapshot delete",
            "auth login",
            "auth status",
            "doctor",
            "quickstart",
            "schema",
            "completion",
        ] {
            find(&s, c);
        }
        for c in [
            "template build",
            "template render",
            "template build-status",
            "template logs",
            "template wait",
            "template list",
            "template get",
            "template exists",
            "template delete",
            "template tag assign",
            "template tag list",
            "template tag remove",
            "template cache prune",
            "template init",
        ] {
            find(&s, c);
        }
        let build = find(&s, "template build");
        assert_eq!(flag(build, "copy")["type"], "src_dest");
        assert_eq!(flag(build, "run_cmd")["repeatable"], true);
        assert_eq!(flag(build, "envs")["type"], "key_value");
        assert_eq!(
            flag(build, "log_format")["possible_values"],
            json!(["text", "jsonl"])
        );
        assert_eq!(
            flag(find(&s, "template wait"), "id")["type"],
            "template_build_id"
        );
        let globals: Vec<&Value> = s["global_flags"].as_array().unwrap().iter().collect();
        assert!(globals.iter().any(|g| g["long"] == "--json"));
        assert_eq!(s["exit_codes"].as_array().unwrap().len(), 10);
    }

    #[test]
    fn process_and_pty_commands_are_listed() {
        let s = schema(&[]).unwrap();
        for c in [
            "sandbox process list",
            "sandbox process get",
            "sandbox process logs",
            "sandbox process stdin",
            "sandbox process stream",
            "sandbox process attach",
            "sandbox process kill",
            "sandbox pty create",
            "sandbox pty list",
            "sandbox pty connect",
            "sandbox pty resize",
            "sandbox pty kill",
        ] {
            find(&s, c);
        }
        let flag = |c: &str, name: &str| {
            let c = find(&s, c);
            c["flags"]
                .as_array()
                .unwrap()
                .iter()
                .chain(c["arguments"].as_array().unwrap())
                .find(|f| f["name"] == name)
                .cloned()
                .unwrap_or_else(|| panic!("no {name}"))
        };
        assert_eq!(flag("sandbox process kill", "signal")["type"], "signal");
        assert_eq!(flag("sandbox process logs", "pid")["type"], "integer");
        assert_eq!(flag("sandbox pty create", "cols")["type"], "integer");
        assert_eq!(flag("sandbox process stream", "command")["trailing"], true);
        assert_eq!(flag("sandbox exec", "background")["type"], "bool");
    }

    #[test]
    fn every_command_lists_the_global_flags() {
        let s = schema(&[]).unwrap();
        let longs = |flags: &Value| -> Vec<String> {
            flags
                .as_array()
                .unwrap()
                .iter()
                .filter(|f| f["global"] == true)
                .map(|f| f["long"].as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(
            longs(&s["global_flags"]),
            ["--api-key", "--api-url", "--json"]
        );
        for command in s["commands"].as_array().unwrap() {
            assert_eq!(
                longs(&command["flags"]),
                ["--api-key", "--api-url", "--json"],
                "{}",
                command["command"]
            );
        }
        let json_flag = s["global_flags"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["long"] == "--json")
            .unwrap();
        assert_eq!(json_flag["type"], "bool");
        assert_eq!(
            json_flag["value_name"],
            Value::Null,
            "a switch takes no value"
        );
        assert_eq!(json_flag["possible_values"], json!([]));
        let key = &s["global_flags"][0];
        assert_eq!(key["value_name"], "KEY");
        assert_eq!(key["type"], "string");
        // A subtree lists them too.
        let sub = schema(&["sandbox".into(), "exec".into()]).unwrap();
        assert_eq!(
            longs(&sub["commands"][0]["flags"]),
            ["--api-key", "--api-url", "--json"]
        );
        assert_eq!(longs(&sub["global_flags"]).len(), 3);
    }

    #[test]
    fn a_subtree_can_be_selected_by_name_or_alias() {
        let s = schema(&["machine".into(), "file".into()]).unwrap();
        assert_eq!(s["commands"][0]["command"], "machine file");
        assert!(schema(&["nope".into()]).is_err());
    }
}
