package faults

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// FillPrefix starts the name of every disk fill file.
const FillPrefix = ".faultline-fill-"

type diskState struct {
	File  string `json:"file"`
	Bytes int64  `json:"bytes"`
}

// diskFillFault allocates a file of the requested size in the directory
// (fallocate where the filesystem supports it, else written zeros);
// recovery removes it.
func diskFillFault() Handler {
	return Pair[diskState]{
		Prep: func(_ context.Context, _ *Env, req *Request) (string, diskState, error) {
			df := req.Fault.Disk
			if df == nil {
				return "", diskState{}, errors.New("spec.fault.disk: missing")
			}
			if !filepath.IsAbs(df.Path) {
				return "", diskState{}, fmt.Errorf("spec.fault.disk.path: %q is not absolute", df.Path)
			}
			dir := filepath.Join(req.Target.RootPath, filepath.Clean(df.Path))
			if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
				return "", diskState{}, fmt.Errorf("spec.fault.disk.path: %s is not a directory of target %s", df.Path, req.Target.Key)
			}
			n := df.Size.Value()
			if n <= 0 {
				return "", diskState{}, errors.New("spec.fault.disk.size: must be positive")
			}
			return "file", diskState{File: filepath.Join(dir, FillPrefix+shortID(req.ID)), Bytes: n}, nil
		},
		Do: func(ctx context.Context, _ *Env, s *diskState) (Live, error) {
			f, err := os.OpenFile(s.File, os.O_CREATE|os.O_WRONLY, 0o600)
			if err != nil {
				return nil, fmt.Errorf("create %s: %w", s.File, err)
			}
			defer f.Close()
			if err := unix.Fallocate(int(f.Fd()), 0, 0, s.Bytes); err != nil {
				if !errors.Is(err, unix.EOPNOTSUPP) {
					return nil, fmt.Errorf("fill %s: %w", s.File, err)
				}
				if err := writeZeros(ctx, f, s.Bytes); err != nil {
					return nil, fmt.Errorf("fill %s: %w", s.File, err)
				}
			}
			if err := f.Sync(); err != nil {
				return nil, fmt.Errorf("sync %s: %w", s.File, err)
			}
			return diskLive{s.File}, nil
		},
		Undo: func(_ context.Context, _ *Env, s *diskState) error {
			if err := os.Remove(s.File); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("remove %s: %w", s.File, err)
			}
			return nil
		},
	}
}

func writeZeros(ctx context.Context, f *os.File, n int64) error {
	buf := make([]byte, 1<<20)
	for n > 0 {
		if err := ctxDone(ctx); err != nil {
			return err
		}
		w, err := f.Write(buf[:min(int64(len(buf)), n)])
		if err != nil {
			return err
		}
		n -= int64(w)
	}
	return nil
}

type diskLive struct{ file string }

// Measure reports the bytes the file really occupies on disk.
func (d diskLive) Measure(context.Context) []Measurement {
	var st unix.Stat_t
	if err := unix.Stat(d.file, &st); err != nil {
		return nil
	}
	return []Measurement{{Name: MeasuredFilledBytes, Value: float64(st.Blocks * 512), Time: time.Now()}}
}

func (diskLive) Stop() {}
