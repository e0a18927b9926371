//! `-o json`: the plan itself, versioned by its `schema` field (docs/plan-schema.md).

use crate::model::plan::UpgradePlan;

pub fn render(plan: &UpgradePlan) -> Result<String, serde_json::Error> {
    let mut s = serde_json::to_string_pretty(plan)?;
    s.push('\n');
    Ok(s)
}
