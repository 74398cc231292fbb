//! heapsight's end-to-end test crate.
//!
//! The library half is [`support`]: helpers that run the fixture apps in `fixtures/` under real
//! Node binaries to make heap snapshot triples (A, B, C), cache them under `target/`, and run the
//! peer tools (Chrome DevTools' heap snapshot engine) on them for cross-checks. The tests
//! themselves live in `tests/tests/*.rs`. [`captures`] assembles capture folders that hold
//! several heaps (a main heap and worker or process parts) from those triples. [`cgroup`]
//! makes real memory cgroups with a limit for the tests of the capture's cgroup reader. [`s3`]
//! starts a real S3-compatible server (moto) and reads buckets back with boto3.
//!
//! Set-up on a fresh machine: `bash tests/setup.sh` installs the other Node versions (18, 22,
//! 24) under `target/node/` and the peer tools under `tests/peer/node_modules`. Node 20 is the
//! machine's own `node`.

pub mod captures;
pub mod cgroup;
pub mod s3;
pub mod support;
