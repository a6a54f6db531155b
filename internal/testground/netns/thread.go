package netns

import (
	"errors"
	"fmt"
	"runtime"

	vnetns "github.com/vishvananda/netns"
)

// onNSThread runs enter and then fn on a dedicated, locked OS thread, and
// moves the thread back to the namespace it started in afterwards.
//
// A network namespace belongs to a thread, not to a goroutine or a process,
// so switching one must never leak to other goroutines. If switching back
// fails, the thread stays locked: the Go runtime then destroys it when the
// goroutine exits instead of reusing it in the wrong namespace. A panic in fn
// is carried back and re-raised in the caller's goroutine, where the test
// framework can report it and still run cleanups.
func onNSThread(enter, fn func() error) error {
	type result struct {
		err      error
		panicked bool
		value    any
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := vnetns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			done <- result{err: fmt.Errorf("get current network namespace: %w", err)}
			return
		}
		defer orig.Close()

		var res result
		func() {
			defer func() {
				if p := recover(); p != nil {
					res = result{panicked: true, value: p}
				}
			}()
			if res.err = enter(); res.err == nil {
				res.err = fn()
			}
		}()
		if err := vnetns.Set(orig); err != nil {
			res.err = errors.Join(res.err, fmt.Errorf("return to original network namespace: %w", err))
			done <- res // thread stays locked and dies with this goroutine
			return
		}
		runtime.UnlockOSThread()
		done <- res
	}()
	res := <-done
	if res.panicked {
		panic(res.value)
	}
	return res.err
}

// enterNamed returns an enter function for onNSThread that switches to one
// of our named namespaces.
func enterNamed(name string) func() error {
	return func() error {
		h, err := openNS(name)
		if err != nil {
			return err
		}
		defer h.Close()
		if err := vnetns.Set(h); err != nil {
			return fmt.Errorf("enter network namespace %s: %w", name, err)
		}
		return nil
	}
}
