//! The fault matrix: whole upgrades of a small simulated pool through `Engine::new` with the scripted ports
//! (`poolshift::ports::fake`), one fault per row: what must be retried is retried and the run ends Done; what
//! must stop the run stops it, leaves it recorded and resumable, and a new agent finishes it; in every row no
//! PDB is violated, no pod is lost, checkpoint seqs only go up and there is at most one green pool.

mod ports;
mod retried;
mod stops;
mod targeted;
