//! cgroup v2 device-controller BPF programs: load and attach (owner: cgroups)
//! (filled in by its owner)
