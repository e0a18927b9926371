//! Stop points: the boundaries between steps where a run may stop. Guided stops (an operator at a terminal),
//! gates (health checks, user commands) and maintenance windows are all checked at these points.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "at")]
pub enum StopPoint {
    /// Green is Ready; nothing on blue has changed yet (before green is validated).
    GreenReady,
    /// Green is validated; before blue is cordoned and the first batch drains.
    BeforeFirstBatch,
    /// Batch `batch` (0-based) of `of` just finished (done or quarantined), before the next one or the pool soak.
    AfterBatch { batch: usize, of: usize },
    /// The pool soak is over; before blue is deleted (the last point a rollback is possible).
    BeforeBlueDeletion,
}

impl StopPoint {
    /// The point's kind as the cluster file and environment variables name it.
    pub fn kind(&self) -> StopKind {
        match self {
            StopPoint::GreenReady => StopKind::GreenReady,
            StopPoint::BeforeFirstBatch => StopKind::BeforeFirstBatch,
            StopPoint::AfterBatch { .. } => StopKind::AfterBatch,
            StopPoint::BeforeBlueDeletion => StopKind::BeforeBlueDeletion,
        }
    }
}

impl std::fmt::Display for StopPoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StopPoint::GreenReady => f.write_str("after green is Ready"),
            StopPoint::BeforeFirstBatch => f.write_str("before the first batch"),
            StopPoint::AfterBatch { batch, of } => write!(f, "after batch {} of {of}", batch + 1),
            StopPoint::BeforeBlueDeletion => f.write_str("before blue is deleted"),
        }
    }
}

/// A kind of stop point, without the batch: what the cluster file names (`green_ready`, `before_first_batch`,
/// `after_batch`, `before_blue_deletion`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopKind {
    GreenReady,
    BeforeFirstBatch,
    AfterBatch,
    BeforeBlueDeletion,
}

impl StopKind {
    pub const ALL: [StopKind; 4] =
        [StopKind::GreenReady, StopKind::BeforeFirstBatch, StopKind::AfterBatch, StopKind::BeforeBlueDeletion];

    /// The name in the cluster file and in `POOLSHIFT_STOP`.
    pub fn name(self) -> &'static str {
        match self {
            StopKind::GreenReady => "green_ready",
            StopKind::BeforeFirstBatch => "before_first_batch",
            StopKind::AfterBatch => "after_batch",
            StopKind::BeforeBlueDeletion => "before_blue_deletion",
        }
    }

    /// The kind named `name`, as the cluster file writes it.
    pub fn parse(name: &str) -> Option<StopKind> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }
}

impl std::fmt::Display for StopKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_read_as_people_say_them_and_serialize_tagged() {
        assert_eq!(StopPoint::AfterBatch { batch: 1, of: 5 }.to_string(), "after batch 2 of 5");
        assert_eq!(StopPoint::BeforeBlueDeletion.to_string(), "before blue is deleted");
        let json = serde_json::to_string(&StopPoint::AfterBatch { batch: 1, of: 5 }).unwrap();
        assert_eq!(json, r#"{"at":"after_batch","batch":1,"of":5}"#);
        let back: StopPoint = serde_json::from_str(&json).unwrap();
        assert_eq!(back, StopPoint::AfterBatch { batch: 1, of: 5 });
    }

    #[test]
    fn kinds_round_trip_through_their_names() {
        for k in StopKind::ALL {
            assert_eq!(StopKind::parse(k.name()), Some(k));
        }
        assert_eq!(StopKind::parse("after_each_batch"), None);
        assert_eq!(StopPoint::AfterBatch { batch: 3, of: 4 }.kind(), StopKind::AfterBatch);
    }
}
