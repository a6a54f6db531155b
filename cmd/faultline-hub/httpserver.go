package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// serveRunnable runs srv for as long as the manager runs (TLS when srv has a
// TLSConfig with certificates) and shuts it down gracefully with it. Only
// the leader serves it.
func serveRunnable(name string, srv *http.Server) manager.Runnable {
	return manager.RunnableFunc(serve(name, srv))
}

// everyReplica is a runnable the manager starts on every replica, leader or
// not.
type everyReplica struct{ manager.RunnableFunc }

func (everyReplica) NeedLeaderElection() bool { return false }

// serveOnEveryReplica is serveRunnable for servers whose handlers only
// write to the API server and keep no state of their own (the push-webhook
// receiver), so a Service may send their traffic to any replica.
func serveOnEveryReplica(name string, srv *http.Server) manager.Runnable {
	return everyReplica{manager.RunnableFunc(serve(name, srv))}
}

func serve(name string, srv *http.Server) func(context.Context) error {
	return func(ctx context.Context) error {
		errc := make(chan error, 1)
		go func() {
			if srv.TLSConfig != nil {
				errc <- srv.ListenAndServeTLS("", "")
			} else {
				errc <- srv.ListenAndServe()
			}
		}()
		select {
		case err := <-errc:
			return fmt.Errorf("%s: %w", name, err)
		case <-ctx.Done():
			shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("stopping %s: %w", name, err)
			}
			return nil
		}
	}
}
