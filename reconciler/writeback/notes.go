package writeback

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage/memory"
)

// NotesRef is where the audit trail lives: `git log --notes=faultline`.
const NotesRef = plumbing.ReferenceName("refs/notes/faultline")

// Notes appends audit records to a remote repository's notes.
type Notes struct {
	// URL of the repository (the ChaosSource's).
	URL  string
	Auth transport.AuthMethod
	// Name and Email sign the notes commits; "faultline" <faultline@localhost> when empty.
	Name, Email string
	// Attempts bounds the fetch-append-push rounds when another writer
	// pushes in between (default 5).
	Attempts int
}

// Append adds rec as a note on rec.Commit and pushes it. A note already on
// that commit (an earlier run of the same revision) is kept: the record is
// appended after a blank line, as `git notes append` does. When another
// writer moves the notes ref in between, Append fetches and tries again.
func (n *Notes) Append(ctx context.Context, rec Record) error {
	if err := validCommit(rec.Commit); err != nil {
		return err
	}
	rec.Kind = RecordKind
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // "0.49 > max 0.3" stays readable in git log
	enc.SetIndent("", "  ")
	if err := enc.Encode(rec); err != nil {
		return fmt.Errorf("audit record: %w", err)
	}
	doc := buf.Bytes()
	attempts := n.Attempts
	if attempts <= 0 {
		attempts = 5
	}
	var lastErr error
	for range attempts {
		lastErr = n.appendOnce(ctx, rec.Commit, doc)
		if lastErr == nil || !isRace(lastErr) || ctx.Err() != nil {
			return lastErr
		}
	}
	return fmt.Errorf("audit note on %s: gave up after %d attempts: %w", rec.Commit, attempts, lastErr)
}

func (n *Notes) appendOnce(ctx context.Context, commit string, doc []byte) error {
	st := memory.NewStorage()
	repo, err := git.Init(st, nil)
	if err != nil {
		return fmt.Errorf("audit note: %w", err)
	}
	remote, err := repo.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{n.URL}})
	if err != nil {
		return fmt.Errorf("audit note: %w", err)
	}
	parent, err := fetchNotes(ctx, st, remote, n.Auth)
	if err != nil {
		return err
	}

	files := map[string]plumbing.Hash{}
	if !parent.IsZero() {
		if files, err = readNotesTree(st, parent); err != nil {
			return err
		}
	}
	// Keep the existing note where it is (git may have fanned it out into
	// ab/cdef... directories); new notes go flat, as git writes small trees.
	name, old := commit, ""
	for _, p := range notePaths(commit) {
		if h, ok := files[p]; ok {
			name = p
			b, err := readBlob(st, h)
			if err != nil {
				return err
			}
			old = string(b)
			break
		}
	}
	content := doc
	if strings.TrimSpace(old) != "" {
		content = []byte(strings.TrimRight(old, "\n") + "\n\n" + string(doc))
	}
	content = append(bytes.TrimRight(content, "\n"), '\n')
	if files[name], err = writeObject(st, plumbing.BlobObject, func(w io.Writer) error { _, err := w.Write(content); return err }); err != nil {
		return err
	}
	tree, err := writeTree(st, files)
	if err != nil {
		return err
	}
	sig := object.Signature{Name: n.Name, Email: n.Email, When: time.Now()}
	if sig.Name == "" {
		sig.Name = "faultline"
	}
	if sig.Email == "" {
		sig.Email = "faultline@localhost"
	}
	c := &object.Commit{Author: sig, Committer: sig, TreeHash: tree,
		Message: "faultline: audit record for " + commit + "\n"}
	if !parent.IsZero() {
		c.ParentHashes = []plumbing.Hash{parent}
	}
	head, err := writeEncoded(st, c)
	if err != nil {
		return err
	}
	if err := st.SetReference(plumbing.NewHashReference(NotesRef, head)); err != nil {
		return fmt.Errorf("audit note: %w", err)
	}
	spec := config.RefSpec(NotesRef + ":" + NotesRef)
	if err := remote.PushContext(ctx, &git.PushOptions{RefSpecs: []config.RefSpec{spec}, Auth: n.Auth}); err != nil {
		return &pushError{err: err}
	}
	return nil
}

// pushError marks a failed push; a rejected (non-fast-forward) push means
// another writer was faster, and the append is retried on top of theirs.
type pushError struct{ err error }

func (e *pushError) Error() string {
	return "audit note: push " + string(NotesRef) + ": " + e.err.Error()
}
func (e *pushError) Unwrap() error { return e.err }

func isRace(err error) bool {
	var pe *pushError
	if !errors.As(err, &pe) {
		return false
	}
	msg := pe.err.Error()
	return errors.Is(pe.err, git.ErrForceNeeded) || strings.Contains(msg, "non-fast-forward") ||
		strings.Contains(msg, "fetch first") || strings.Contains(msg, "failed to update ref") || strings.Contains(msg, "rejected")
}

// fetchNotes fetches the notes ref into st and returns its commit, or the
// zero hash when the remote has no notes yet.
func fetchNotes(ctx context.Context, st storer.ReferenceStorer, remote *git.Remote, auth transport.AuthMethod) (plumbing.Hash, error) {
	spec := config.RefSpec("+" + NotesRef + ":" + NotesRef)
	err := remote.FetchContext(ctx, &git.FetchOptions{RefSpecs: []config.RefSpec{spec}, Auth: auth, Tags: git.NoTags})
	switch {
	case err == nil, errors.Is(err, git.NoErrAlreadyUpToDate):
	case errors.Is(err, git.NoMatchingRefSpecError{}), errors.Is(err, transport.ErrEmptyRemoteRepository):
		return plumbing.ZeroHash, nil
	default:
		return plumbing.ZeroHash, fmt.Errorf("audit notes: fetch %s from %s: %w", NotesRef, remote.Config().URLs[0], err)
	}
	ref, err := st.Reference(NotesRef)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("audit notes: %s after fetch: %w", NotesRef, err)
	}
	return ref.Hash(), nil
}

// notePaths are the places git may keep the note of commit: flat, or fanned
// out by two hex digits per level once a notes tree grows large.
func notePaths(commit string) []string {
	return []string{commit, commit[:2] + "/" + commit[2:], commit[:2] + "/" + commit[2:4] + "/" + commit[4:]}
}

// readNotesTree lists every blob of a notes commit's tree by path.
func readNotesTree(st storer.EncodedObjectStorer, commit plumbing.Hash) (map[string]plumbing.Hash, error) {
	c, err := object.GetCommit(st, commit)
	if err != nil {
		return nil, fmt.Errorf("audit notes: read %s commit %s: %w", NotesRef, commit, err)
	}
	tree, err := c.Tree()
	if err != nil {
		return nil, fmt.Errorf("audit notes: read tree of %s: %w", commit, err)
	}
	files := map[string]plumbing.Hash{}
	walker := object.NewTreeWalker(tree, true, nil)
	defer walker.Close()
	for {
		name, entry, err := walker.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("audit notes: walk tree of %s: %w", commit, err)
		}
		if entry.Mode.IsFile() {
			files[name] = entry.Hash
		}
	}
	return files, nil
}

func readBlob(st storer.EncodedObjectStorer, h plumbing.Hash) ([]byte, error) {
	b, err := object.GetBlob(st, h)
	if err != nil {
		return nil, fmt.Errorf("audit notes: read blob %s: %w", h, err)
	}
	r, err := b.Reader()
	if err != nil {
		return nil, fmt.Errorf("audit notes: read blob %s: %w", h, err)
	}
	defer r.Close()
	return io.ReadAll(r)
}

func writeObject(st storer.EncodedObjectStorer, t plumbing.ObjectType, fill func(io.Writer) error) (plumbing.Hash, error) {
	obj := st.NewEncodedObject()
	obj.SetType(t)
	w, err := obj.Writer()
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("audit notes: %w", err)
	}
	if err := fill(w); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("audit notes: %w", err)
	}
	if err := w.Close(); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("audit notes: %w", err)
	}
	return st.SetEncodedObject(obj)
}

type encoder interface {
	Encode(plumbing.EncodedObject) error
}

func writeEncoded(st storer.EncodedObjectStorer, o encoder) (plumbing.Hash, error) {
	obj := st.NewEncodedObject()
	if err := o.Encode(obj); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("audit notes: encode: %w", err)
	}
	return st.SetEncodedObject(obj)
}

// writeTree writes the nested trees holding files (slash-separated paths)
// and returns the root tree's hash.
func writeTree(st storer.EncodedObjectStorer, files map[string]plumbing.Hash) (plumbing.Hash, error) {
	sub := map[string]map[string]plumbing.Hash{}
	var entries []object.TreeEntry
	for p, h := range files {
		dir, rest, nested := strings.Cut(p, "/")
		if !nested {
			entries = append(entries, object.TreeEntry{Name: p, Mode: filemode.Regular, Hash: h})
			continue
		}
		if sub[dir] == nil {
			sub[dir] = map[string]plumbing.Hash{}
		}
		sub[dir][rest] = h
	}
	for dir, fs := range sub {
		h, err := writeTree(st, fs)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		entries = append(entries, object.TreeEntry{Name: dir, Mode: filemode.Dir, Hash: h})
	}
	// Git's order: by name, a directory sorting as if its name ended in "/".
	key := func(e object.TreeEntry) string {
		if e.Mode == filemode.Dir {
			return e.Name + "/"
		}
		return e.Name
	}
	sort.Slice(entries, func(i, j int) bool { return key(entries[i]) < key(entries[j]) })
	return writeEncoded(st, &object.Tree{Entries: entries})
}

func validCommit(c string) error {
	if len(c) != 40 || strings.Trim(c, "0123456789abcdef") != "" {
		return fmt.Errorf("audit record: commit %q is not a 40-digit lower-case hex SHA-1", c)
	}
	return nil
}

// ReadRemote fetches a repository's notes and returns every audit record,
// oldest start first. Notes that are not faultline records are skipped;
// records that do not decode are reported in problems, naming the commit.
func ReadRemote(ctx context.Context, url string, auth transport.AuthMethod) (records []Record, problems []string, err error) {
	st := memory.NewStorage()
	repo, err := git.Init(st, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("audit notes: %w", err)
	}
	remote, err := repo.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{url}})
	if err != nil {
		return nil, nil, fmt.Errorf("audit notes: %w", err)
	}
	head, err := fetchNotes(ctx, st, remote, auth)
	if err != nil || head.IsZero() {
		return nil, nil, err
	}
	return readRecords(st, head)
}

// ReadDir reads the audit records of a local clone's refs/notes/faultline.
// A clone does not fetch notes by itself: run
// `git fetch origin refs/notes/faultline:refs/notes/faultline` first.
func ReadDir(dir string) (records []Record, problems []string, err error) {
	repo, err := git.PlainOpenWithOptions(dir, &git.PlainOpenOptions{DetectDotGit: true})
	if err != nil {
		return nil, nil, fmt.Errorf("audit notes: open %s: %w", dir, err)
	}
	ref, err := repo.Reference(NotesRef, true)
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return nil, nil, fmt.Errorf("audit notes: %s has no %s; fetch it with `git fetch origin %s:%s`", dir, NotesRef, NotesRef, NotesRef)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("audit notes: %s: %w", dir, err)
	}
	return readRecords(repo.Storer, ref.Hash())
}

func readRecords(st storer.EncodedObjectStorer, head plumbing.Hash) ([]Record, []string, error) {
	files, err := readNotesTree(st, head)
	if err != nil {
		return nil, nil, err
	}
	var records []Record
	var problems []string
	for p, h := range files {
		commit := strings.ReplaceAll(p, "/", "")
		b, err := readBlob(st, h)
		if err != nil {
			return nil, nil, err
		}
		recs, probs := parseNote(commit, b)
		records = append(records, recs...)
		problems = append(problems, probs...)
	}
	sort.SliceStable(records, func(i, j int) bool {
		if !records[i].Start.Equal(records[j].Start) {
			return records[i].Start.Before(records[j].Start)
		}
		return records[i].Experiment < records[j].Experiment
	})
	sort.Strings(problems)
	return records, problems, nil
}

// parseNote finds the records in one note: JSON objects that start at the
// beginning of a line, whatever else (free text someone appended with
// `git notes append`) lies between them.
func parseNote(commit string, note []byte) ([]Record, []string) {
	var out []Record
	var problems []string
	for off := 0; off < len(note); {
		start := off
		if note[off] != '{' {
			nl := bytes.Index(note[off:], []byte("\n{"))
			if nl < 0 {
				break
			}
			start = off + nl + 1
		}
		dec := json.NewDecoder(bytes.NewReader(note[start:]))
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			off = start + 1 // not JSON after all: look further
			continue
		}
		off = start + int(dec.InputOffset())
		var kind struct {
			Kind string `json:"kind"`
		}
		if json.Unmarshal(raw, &kind) != nil || kind.Kind != RecordKind {
			continue
		}
		var r Record
		if err := json.Unmarshal(raw, &r); err != nil {
			problems = append(problems, fmt.Sprintf("note on %s: record %d: %v", commit, len(out)+len(problems)+1, err))
			continue
		}
		if r.Commit == "" {
			r.Commit = commit
		}
		out = append(out, r)
	}
	return out, problems
}
