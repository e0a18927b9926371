//! The simulated cloud: node pools created and deleted with a provisioning delay.

#[derive(Debug, Default, Clone)]
pub struct Cloud {}
