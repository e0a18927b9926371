//! Plan files: `plan --out FILE` writes the plan (the JSON of `-o json`, with its plan id); `upgrade --plan
//! FILE` reads it back, refusing a file that is not a plan of this schema or whose content no longer matches
//! its id (edited after review).

use std::path::Path;

use super::error::CliError;
use crate::model::plan::{PLAN_SCHEMA, UpgradePlan};
use crate::model::plan_id;

/// Writes `plan` to `path` whole or not at all (a temporary file renamed over it).
pub fn write(path: &Path, plan: &UpgradePlan) -> Result<(), CliError> {
    let failed = |source: std::io::Error| CliError::WriteFile { path: path.to_path_buf(), source };
    let text = crate::report::render(plan, crate::report::Format::Json).map_err(|e| failed(e.into()))?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::write(&tmp, text).map_err(failed)?;
    std::fs::rename(&tmp, path).map_err(failed)
}

/// Reads and checks a plan file.
pub fn read(path: &Path) -> Result<UpgradePlan, CliError> {
    let bad = |message: String| CliError::PlanFile { path: path.to_path_buf(), message };
    let text = std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| bad(format!("not JSON (line {}, column {}): {e}", e.line(), e.column())))?;
    let schema = value.get("schema").and_then(serde_json::Value::as_u64);
    match schema {
        None => {
            return Err(bad("not a poolshift plan (no `schema`): write one with `poolshift plan --out FILE`".into()));
        }
        Some(s) if s != u64::from(PLAN_SCHEMA) => {
            return Err(bad(format!(
                "plan schema {s}; this poolshift executes schema {PLAN_SCHEMA}: plan again with `poolshift plan --out FILE`"
            )));
        }
        Some(_) => {}
    }
    let plan: UpgradePlan = serde_path_to_error::deserialize(value)
        .map_err(|e| bad(format!("not a poolshift plan: at {}: {}", e.path(), e.inner())))?;
    if plan.plan_id.is_empty() {
        return Err(bad("it has no plan_id: write plans with `poolshift plan --out FILE`".into()));
    }
    if let Err(actual) = plan_id::verify(&plan) {
        return Err(bad(format!(
            "its content does not match its plan_id {} (the content hashes to {actual}): it was changed after it was made; plan again",
            plan.plan_id
        )));
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> UpgradePlan {
        let text = include_str!("../../tests/golden/demo.json");
        let mut plan: UpgradePlan = serde_json::from_str(text).expect("the golden demo plan parses");
        plan.schema = PLAN_SCHEMA;
        plan_id::stamp(&mut plan, "2026-12-01T10:00:00Z");
        plan
    }

    #[test]
    fn a_written_plan_reads_back_equal() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("plan.json");
        let plan = sample();
        write(&path, &plan).expect("writes");
        assert_eq!(read(&path).expect("reads"), plan);
        assert!(!dir.path().join("plan.json.tmp").exists());
    }

    #[test]
    fn bad_files_are_refused_naming_the_file_and_the_problem() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("plan.json");
        let plan = sample();
        let json = serde_json::to_value(&plan).expect("serialises");
        let mut edited = json.clone();
        edited["policy"]["max_in_flight"] = serde_json::json!(500);
        let mut old = json.clone();
        old["schema"] = serde_json::json!(2);
        let mut wrong = json.clone();
        wrong["batches"][0]["pods"][0]["disposition"] = serde_json::json!({"action": "obliterate"});
        let mut unstamped = json.clone();
        unstamped["plan_id"] = serde_json::json!("");
        let cases = [
            (None, "cannot read it"),
            (Some("{".to_string()), "not JSON (line 1"),
            (Some("{}".to_string()), "not a poolshift plan (no `schema`)"),
            (Some(old.to_string()), "plan schema 2; this poolshift executes schema 3"),
            (Some(wrong.to_string()), "not a poolshift plan: at batches[0].pods[0].disposition"),
            (Some(unstamped.to_string()), "it has no plan_id"),
            (Some(edited.to_string()), "does not match its plan_id"),
        ];
        for (content, says) in cases {
            let _ = std::fs::remove_file(&path);
            if let Some(c) = content {
                std::fs::write(&path, c).expect("writes");
            }
            let e = read(&path).expect_err(says);
            let text = e.to_string();
            assert!(text.starts_with(&format!("plan file {}: ", path.display())), "{text}");
            assert!(text.contains(says), "{says}: {text}");
            assert_eq!(e.exit(), crate::exit::Exit::Usage);
        }
    }
}
