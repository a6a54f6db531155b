package policy_test

import (
	"runtime"
	"syscall"
	"testing"
	"time"
)

// threadCPU measures the CPU time of the benchmark's own OS thread, so that
// figures stay comparable on a machine shared with other work: wall time per
// op grows with the load, CPU time per op much less. Report it with
// reportThreadCPU after the loop.
type threadCPU struct{ start time.Duration }

func startThreadCPU(b *testing.B) *threadCPU {
	b.Helper()
	runtime.LockOSThread()
	b.Cleanup(runtime.UnlockOSThread)
	return &threadCPU{start: threadTime(b)}
}

func (c *threadCPU) report(b *testing.B) {
	b.Helper()
	if n := b.N; n > 0 {
		b.ReportMetric(float64(threadTime(b)-c.start)/float64(n), "cpu-ns/op")
	}
}

func threadTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	const rusageThread = 1 // RUSAGE_THREAD
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
