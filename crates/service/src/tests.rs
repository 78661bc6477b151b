//! Service tests on real stores in a temporary directory.
