package netns

// LockMachine lets tests fake the leftovers of a crashed run atomically with
// respect to Sweeps in parallel test processes, as Create does.
var LockMachine = lockMachine
