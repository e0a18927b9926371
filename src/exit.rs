//! The process exit codes, documented in the README. Scripts and CI gates depend on them: never renumber.

/// How a `poolshift` invocation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// The command finished, or there was nothing to do.
    Done = 0,
    /// The command failed (an API error that retries did not cure, a provider failure, a bug).
    Failed = 1,
    /// Bad command line, configuration or scenario; nothing was changed.
    Usage = 2,
    /// The run paused (by `poolshift pause` or Ctrl-C) or its maintenance window closed; `resume` continues it.
    Paused = 3,
    /// The run is blocked waiting for an operator (stuck pods under the `pause` escalation, an approval gate).
    Blocked = 4,
    /// `plan` found blockers: pods that cannot be evicted as things stand (for CI gates); `upgrade` refused
    /// such a plan without `--accept-blockers`.
    PlanBlockers = 5,
    /// `upgrade --plan FILE` refused: the cluster or the provider changed materially since the plan was
    /// reviewed (or the plan is too old). Nothing was changed; plan again.
    PlanDrift = 6,
}

impl Exit {
    pub fn code(self) -> u8 {
        self as u8
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        std::process::ExitCode::from(e.code())
    }
}

#[cfg(test)]
mod tests {
    use super::Exit;

    #[test]
    fn codes_are_the_documented_ones() {
        let codes: Vec<u8> =
            [Exit::Done, Exit::Failed, Exit::Usage, Exit::Paused, Exit::Blocked, Exit::PlanBlockers, Exit::PlanDrift]
                .iter()
                .map(|e| e.code())
                .collect();
        assert_eq!(codes, vec![0, 1, 2, 3, 4, 5, 6]);
    }
}
