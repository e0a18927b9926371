//! The dry-run report of a plan, in three formats: `text` (a terminal, 100 columns), `markdown` (a pull
//! request or change ticket: summary first, details collapsible) and `json` (the plan, versioned). Pure
//! functions of the plan: whatever needed I/O (preflight, rehearsal) is already in `plan.review`.

pub mod facts;
pub mod json;
pub mod markdown;
pub mod text;

use crate::model::plan::UpgradePlan;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Markdown,
    Json,
}

pub fn render(plan: &UpgradePlan, format: Format) -> Result<String, serde_json::Error> {
    Ok(match format {
        Format::Text => text::render(plan),
        Format::Markdown => markdown::render(plan),
        Format::Json => json::render(plan)?,
    })
}
