package plan

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
)

// forEach calls do(i) for every i in [0, n) on up to workers goroutines,
// handing out indices in ascending chunks. It returns the error of the
// lowest index that failed: which experiment a plan blames must not depend
// on scheduling, so every index below a failure is still done, and indices
// above one are skipped.
func forEach(ctx context.Context, n, workers int, do func(i int) error) error {
	if n == 0 {
		return nil
	}
	workers = max(1, min(workers, n))
	// Chunks small enough to balance the workers at the end, large enough
	// that the shared counter is touched rarely against a decision's cost.
	chunk := int64(max(1, min(32, n/(workers*16))))
	errs := make([]error, n)
	var next atomic.Int64
	var failed atomic.Int64 // lowest failed index
	failed.Store(math.MaxInt64)
	fail := func(i int, err error) {
		errs[i] = err
		for {
			f := failed.Load()
			if int64(i) >= f || failed.CompareAndSwap(f, int64(i)) {
				return
			}
		}
	}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				start := next.Add(chunk) - chunk
				if start >= int64(n) || start > failed.Load() {
					return
				}
				for i := start; i < min(start+chunk, int64(n)); i++ {
					if i > failed.Load() {
						return
					}
					if err := ctx.Err(); err != nil {
						fail(int(i), err)
						return
					}
					if err := do(int(i)); err != nil {
						fail(int(i), err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	if f := failed.Load(); f != math.MaxInt64 {
		return errs[f]
	}
	return nil
}
