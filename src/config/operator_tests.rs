//! The operator-mode settings: `maintenance` and each pool's `gates`, and every way they can be wrong.

use std::time::Duration;

use super::*;
use crate::gates::HealthSettings;

use super::tests::{error, parse};

const HEAD: &str = "cluster:\n  name: prod-eu\nprovider:\n  kind: sim\n";
const POOL: &str = "pools:\n  - name: workers\n";

/// A file with `maintenance` lines (indented under it) and the pool's `gates` lines.
fn file(maintenance: &str, gates: &str) -> String {
    let m = if maintenance.is_empty() { String::new() } else { format!("maintenance:\n{maintenance}") };
    let g = if gates.is_empty() { String::new() } else { format!("    gates:\n{gates}") };
    format!("{HEAD}{m}{POOL}{g}")
}

const WINDOW: &str =
    "  time_zone: Europe/Berlin\n  windows:\n    - {days: [tue, thu], start: \"22:00\", duration: 4h}\n";

#[test]
fn windows_and_gates_as_written() {
    let c = parse(&file(
        &format!("{WINDOW}  exclude: [\"2026-12-24\"]\n"),
        "      pending_timeout: 2m\n      commands:\n        - {name: smoke, run: [./smoke.sh, --quick], timeout: 30s}\n        - {name: slo, run: [check-slo], at: [after_batch]}\n",
    ))
    .expect("valid");
    let s = c.schedule.expect("a schedule");
    assert_eq!(s.zone_name, "Europe/Berlin");
    assert_eq!(s.windows.len(), 1);
    assert_eq!(s.windows[0].duration, Duration::from_secs(4 * 3600));
    assert_eq!(s.exclude.len(), 1);
    let g = &c.pools[0].gates;
    assert_eq!(
        g.checks,
        Some(HealthSettings { pending_timeout: Duration::from_secs(120), ..HealthSettings::default() })
    );
    assert_eq!(
        g.commands[0].argv,
        vec!["/etc/poolshift/./smoke.sh".to_string(), "--quick".into()],
        "relative to the file"
    );
    assert_eq!(g.commands[0].timeout, Duration::from_secs(30));
    assert_eq!(g.commands[0].at, vec![StopKind::GreenReady, StopKind::AfterBatch], "the default points");
    assert_eq!(g.commands[1].argv, vec!["check-slo".to_string()], "looked up on PATH");
    assert_eq!(g.commands[1].at, vec![StopKind::AfterBatch]);
}

#[test]
fn defaults_without_the_sections() {
    let c = parse(&file("", "")).expect("valid");
    assert_eq!(c.schedule, None, "no maintenance: any time");
    assert_eq!(c.pools[0].gates, GateConfig::default());
    assert!(c.pools[0].gates.checks.is_some(), "the built-in checks are on by default");
    let c = parse(&file("", "      checks: false\n")).expect("valid");
    assert_eq!(c.pools[0].gates.checks, None);
}

#[test]
fn bad_maintenance_settings_name_the_field() {
    let cases: &[(&str, &str)] = &[
        (
            "  time_zone: Europe/Berlinn\n  windows:\n    - {days: [tue], start: \"22:00\", duration: 4h}\n",
            "prod.yaml:6:14: maintenance.time_zone: unknown time zone \"Europe/Berlinn\": expected an IANA name such as Europe/Berlin or UTC",
        ),
        (
            "  time_zone: UTC\n  windows:\n    - {days: [tuesday], start: \"22:00\", duration: 4h}\n",
            "prod.yaml:8:15: maintenance.windows[0].days[0]: invalid day \"tuesday\": expected one of mon, tue, wed, thu, fri, sat, sun",
        ),
        (
            "  time_zone: UTC\n  windows:\n    - {days: [tue, tue], start: \"22:00\", duration: 4h}\n",
            "prod.yaml:8:20: maintenance.windows[0].days[1]: tue is listed twice (also days[0])",
        ),
        (
            "  time_zone: UTC\n  windows:\n    - {days: [], start: \"22:00\", duration: 4h}\n",
            "prod.yaml:8:14: maintenance.windows[0].days: name at least one day",
        ),
        (
            "  time_zone: UTC\n  windows:\n    - {days: [tue], start: \"25:00\", duration: 4h}\n",
            "prod.yaml:8:28: maintenance.windows[0].start: invalid start \"25:00\": expected a local time HH:MM such as 22:00",
        ),
        (
            "  time_zone: UTC\n  windows:\n    - {days: [tue], start: \"10pm\", duration: 4h}\n",
            "prod.yaml:8:28: maintenance.windows[0].start: invalid start \"10pm\": expected a local time HH:MM such as 22:00",
        ),
        (
            "  time_zone: UTC\n  windows:\n    - {days: [tue], start: \"22:00\", duration: 170h}\n",
            "prod.yaml:8:47: maintenance.windows[0].duration: must be between 1m and 7 days (168h)",
        ),
        (
            "  time_zone: UTC\n  windows: []\n",
            "prod.yaml:7:12: maintenance.windows: configure at least one window (or remove maintenance)",
        ),
        (
            "  time_zone: UTC\n  windows:\n    - {days: [tue], start: \"22:00\", duration: 4h}\n  exclude: [\"2026-02-30\"]\n",
            "prod.yaml:9:13: maintenance.exclude[0]: invalid date \"2026-02-30\": expected YYYY-MM-DD such as 2026-12-24",
        ),
        (
            "  time_zone: UTC\n  windows:\n    - {days: [tue], start: \"22:00\", duration: 4h}\n  exclude: [\"2026-12-24\", \"2026-12-24\"]\n",
            "prod.yaml:9:27: maintenance.exclude[1]: 2026-12-24 is listed twice",
        ),
        (
            "  time_zone: UTC\n  windows:\n    - {days: [tue], begin: \"22:00\", duration: 4h}\n",
            "prod.yaml:8:21: maintenance.windows[0].begin: unknown field `begin`, expected one of `days`, `start`, `duration`",
        ),
    ];
    let wrong: Vec<String> = cases
        .iter()
        .map(|(m, want)| (error(&file(m, "")), want))
        .filter(|(got, want)| got != *want)
        .map(|(got, want)| format!("got  {got}\nwant {want}"))
        .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn bad_gate_settings_name_the_field() {
    let cases: &[(&str, &str)] = &[
        (
            "      commands:\n        - {name: \"smoke test\", run: [smoke]}\n",
            "prod.yaml:9:18: pools[0].gates.commands[0].name: invalid gate name \"smoke test\": use letters, digits, '-' and '_'",
        ),
        (
            "      commands:\n        - {name: smoke, run: [a]}\n        - {name: smoke, run: [b]}\n",
            "prod.yaml:10:18: pools[0].gates.commands[1].name: duplicate gate name \"smoke\" (also commands[0])",
        ),
        (
            "      commands:\n        - {name: smoke, run: []}\n",
            "prod.yaml:9:30: pools[0].gates.commands[0].run: must name the program to run: [program, arg, ...]",
        ),
        (
            "      commands:\n        - {name: smoke, run: \"./smoke.sh --quick\"}\n",
            "prod.yaml:9:30: pools[0].gates.commands[0].run: invalid type: string \"./smoke.sh --quick\", expected a sequence",
        ),
        (
            "      commands:\n        - {name: smoke, run: [smoke], timeout: 0s}\n",
            "prod.yaml:9:48: pools[0].gates.commands[0].timeout: must be more than 0s",
        ),
        (
            "      commands:\n        - {name: smoke, run: [smoke], timeout: 2h}\n",
            "prod.yaml:9:48: pools[0].gates.commands[0].timeout: must be at most 1h: a gate that runs longer holds the run",
        ),
        (
            "      commands:\n        - {name: smoke, run: [smoke], at: []}\n",
            "prod.yaml:9:43: pools[0].gates.commands[0].at: must name at least one stop point (or remove the gate)",
        ),
        (
            "      commands:\n        - {name: smoke, run: [smoke], at: [after_batch, after_batch]}\n",
            "prod.yaml:9:57: pools[0].gates.commands[0].at[1]: after_batch is listed twice (also at[0])",
        ),
        (
            "      commands:\n        - {name: smoke, run: [smoke], at: [after_each_batch]}\n",
            "prod.yaml:9:44: pools[0].gates.commands[0].at[0]: unknown variant `after_each_batch`, expected one of `green_ready`, `before_first_batch`, `after_batch`, `before_blue_deletion`",
        ),
        ("      pending_timeout: 0s\n", "prod.yaml:8:24: pools[0].gates.pending_timeout: must be more than 0s"),
        (
            "      checks: false\n      ready_timeout: 5m\n",
            "prod.yaml:9:22: pools[0].gates.ready_timeout: applies only to the built-in checks, which checks: false turns off",
        ),
        (
            "      command: []\n",
            "prod.yaml:8:7: pools[0].gates.command: unknown field `command`, expected one of `checks`, `pending_timeout`, `ready_timeout`, `commands`",
        ),
    ];
    let wrong: Vec<String> = cases
        .iter()
        .map(|(g, want)| (error(&file("", g)), want))
        .filter(|(got, want)| got != *want)
        .map(|(got, want)| format!("got  {got}\nwant {want}"))
        .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn webhooks_as_written_and_every_way_they_can_be_wrong() {
    let text = |hooks: &str| format!("{HEAD}notify:\n  webhooks:\n{hooks}{POOL}");
    let c = parse(&text(
        "    - {url_env: SLACK_WEBHOOK_URL}\n    - {url: \"https://hooks.example/x\", events: [done, failed]}\n",
    ))
    .expect("valid");
    use crate::config::notify::WebhookUrl;
    use crate::notify::message::Topic;
    assert_eq!(c.webhooks[0].url, WebhookUrl::Env("SLACK_WEBHOOK_URL".into()));
    assert_eq!(c.webhooks[0].topics.len(), Topic::ALL.len() - 1, "all but batch_done by default");
    assert!(!c.webhooks[0].topics.contains(&Topic::BatchDone));
    assert_eq!(c.webhooks[1].url, WebhookUrl::Literal("https://hooks.example/x".into()));
    assert_eq!(c.webhooks[1].topics, [Topic::Done, Topic::Failed].into_iter().collect());
    let cases: &[(&str, &str)] = &[
        (
            "    - {url: \"https://a.example\", url_env: HOOK}\n",
            "prod.yaml:7:43: notify.webhooks[0].url_env: give url or url_env, not both",
        ),
        (
            "    - {events: [done]}\n",
            "prod.yaml:7:7: notify.webhooks[0]: give url (the webhook's URL) or url_env (a variable holding it)",
        ),
        (
            "    - {url: \"hooks.slack.com/services/x\"}\n",
            "prod.yaml:7:13: notify.webhooks[0].url: invalid URL \"hooks.slack.com/services/x\": expected http://... or https://...",
        ),
        (
            "    - {url_env: slack-hook}\n",
            "prod.yaml:7:17: notify.webhooks[0].url_env: invalid variable name \"slack-hook\": use capital letters, digits and '_' (SLACK_WEBHOOK_URL)",
        ),
        (
            "    - {url_env: HOOK, events: []}\n",
            "prod.yaml:7:31: notify.webhooks[0].events: name at least one event (or remove the webhook)",
        ),
        (
            "    - {url_env: HOOK, events: [done, done]}\n",
            "prod.yaml:7:38: notify.webhooks[0].events[1]: done is listed twice",
        ),
        (
            "    - {url_env: HOOK, events: [finished]}\n",
            "prod.yaml:7:32: notify.webhooks[0].events[0]: unknown variant `finished`, expected one of `started`, `batch_done`, `blocked`, `gate_failed`, `paused`, `done`, `rolled_back`, `failed`",
        ),
    ];
    let wrong: Vec<String> = cases
        .iter()
        .map(|(h, want)| (error(&text(h)), want))
        .filter(|(got, want)| got != *want)
        .map(|(got, want)| format!("got  {got}\nwant {want}"))
        .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
