//! The upgrade engine end to end on the in-process simulator, in virtual time: every test runs a real
//! plan through the real engine, the sim provider and the kube adapters, and checks the simulator's
//! invariant recorder (0 PDB violations, 0 lost pods).

mod escalation;
mod faults;
mod flow;
mod gates;
mod green_pool;
mod green_unrecorded;
mod harness;
mod landing_back;
mod lifecycle;
mod outside_writes;
mod scripted;
mod stops;
mod windows;
