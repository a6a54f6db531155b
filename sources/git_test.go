package sources

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/go-git/go-git/v5/plumbing/transport"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
	"github.com/faultline-dev/faultline/internal/testground/gitserver"
)

// newKey makes an OpenPGP key pair and its armoured public key.
func newKey(t testing.TB, name string) (*openpgp.Entity, []byte) {
	t.Helper()
	key, err := openpgp.NewEntity(name, "", name+"@faultline.invalid", nil)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, openpgp.PublicKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := key.Serialize(w); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return key, buf.Bytes()
}

func TestFetchCheckoutAndBuildFromARealGitServer(t *testing.T) {
	srv := gitserver.Start(t, gitserver.WithBasicAuth("chaos", "s3cret"))
	srv.CreateRepo(t, "chaos")
	first := srv.Commit(t, "chaos", "main", map[string]string{"experiments/delay.yaml": validExperiment}, "Add checkout delay\n\nbody")

	auth, err := AuthFromSecret(srv.RepoURL("chaos"), map[string][]byte{"username": []byte("chaos"), "password": []byte("s3cret")}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	repo := &Repository{URL: srv.RepoURL("chaos"), Auth: auth, CacheDir: t.TempDir() + "/cache"}

	rev, err := repo.Resolve(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if rev.String() != "main@sha1:"+first {
		t.Fatalf("revision %s, want main@sha1:%s", rev, first)
	}
	c, err := repo.Checkout(t.Context(), rev)
	if err != nil {
		t.Fatal(err)
	}
	if c.Author != gitserver.TestAuthorName+" <"+gitserver.TestAuthorEmail+">" || c.Message != "Add checkout delay" {
		t.Errorf("author %q message %q", c.Author, c.Message)
	}
	res, err := Build(t.Context(), c.Dir+"/experiments", BuildOptions{Root: c.Dir})
	if err != nil || len(res.Experiments) != 1 || res.Experiments[0].Annotations[SourceFileAnnotation] != "experiments/delay.yaml:1" {
		t.Fatalf("build: %v %+v", err, res)
	}

	// A new commit deleting the file and adding another: the cache follows
	// and nothing stale stays in the work tree.
	second := srv.Commit(t, "chaos", "main", map[string]string{
		"experiments/delay.yaml": "",
		"experiments/kill.yaml":  "apiVersion: faultline.dev/v1alpha1\nkind: Experiment\nmetadata:\n  name: kill\nspec:\n  fault:\n    pod:\n      action: kill\n",
	}, "Swap")
	rev2, err := repo.Resolve(t.Context())
	if err != nil || rev2.Commit != second {
		t.Fatalf("resolve after push: %v %v", rev2, err)
	}
	if _, err := repo.Checkout(t.Context(), rev2); err != nil {
		t.Fatal(err)
	}
	res, err = Build(t.Context(), c.Dir+"/experiments", BuildOptions{Root: c.Dir})
	if err != nil || len(res.Experiments) != 1 || res.Experiments[0].Name != "kill" {
		t.Fatalf("build after swap: %v %+v", err, res)
	}

	// Wrong password: an authentication error, not a missing ref.
	bad := &Repository{URL: srv.RepoURL("chaos"), Auth: mustAuth(t, srv.RepoURL("chaos"), "chaos", "wrong"), CacheDir: t.TempDir()}
	if _, err := bad.Resolve(t.Context()); err == nil {
		t.Error("resolve with a wrong password succeeded")
	}
	// An unknown branch is a configuration error.
	missing := &Repository{URL: srv.RepoURL("chaos"), Auth: auth, Ref: &v1alpha1.GitRef{Branch: "nope"}, CacheDir: t.TempDir()}
	if _, err := missing.Resolve(t.Context()); !errors.Is(err, ErrRefNotFound) {
		t.Errorf("unknown branch: %v, want ErrRefNotFound", err)
	}
}

func mustAuth(t *testing.T, url, user, pass string) transport.AuthMethod {
	t.Helper()
	a, err := AuthFromSecret(url, map[string][]byte{"username": []byte(user), "password": []byte(pass)}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestTagsSemverAndPinnedCommits(t *testing.T) {
	srv := gitserver.Start(t)
	srv.CreateRepo(t, "r")
	c1 := srv.Commit(t, "r", "main", map[string]string{"a.yaml": validExperiment}, "one")
	srv.Tag(t, "r", "v1.0.0", c1, gitserver.TagMessage("release 1.0.0"))
	c2 := srv.Commit(t, "r", "main", map[string]string{"b.txt": "x"}, "two")
	srv.Tag(t, "r", "v1.2.0", c2) // lightweight
	c3 := srv.Commit(t, "r", "main", map[string]string{"c.txt": "x"}, "three")
	srv.Tag(t, "r", "v2.0.0", c3)

	cases := []struct {
		ref  v1alpha1.GitRef
		want string
	}{
		{v1alpha1.GitRef{Tag: "v1.0.0"}, "v1.0.0@sha1:" + c1},
		{v1alpha1.GitRef{SemVer: ">=1.0.0 <2.0.0"}, "v1.2.0@sha1:" + c2},
		{v1alpha1.GitRef{SemVer: "~1.0"}, "v1.0.0@sha1:" + c1},
		{v1alpha1.GitRef{Commit: c2}, "sha1:" + c2},
		{v1alpha1.GitRef{Branch: "main", Tag: "v2.0.0"}, "v2.0.0@sha1:" + c3},
	}
	for _, tc := range cases {
		repo := &Repository{URL: srv.RepoURL("r"), Ref: &tc.ref, CacheDir: t.TempDir() + "/c"}
		rev, err := repo.Resolve(t.Context())
		if err != nil {
			t.Errorf("%+v: %v", tc.ref, err)
			continue
		}
		if rev.String() != tc.want {
			t.Errorf("%+v: revision %s, want %s", tc.ref, rev, tc.want)
		}
		if _, err := repo.Checkout(t.Context(), rev); err != nil {
			t.Errorf("%+v: checkout: %v", tc.ref, err)
		}
	}
	if _, err := (&Repository{URL: srv.RepoURL("r"), Ref: &v1alpha1.GitRef{SemVer: ">=3"}}).Resolve(t.Context()); !errors.Is(err, ErrRefNotFound) {
		t.Errorf("empty semver range: %v", err)
	}
}

func TestSignaturesAreVerified(t *testing.T) {
	trusted, trustedPub := newKey(t, "trusted")
	stranger, _ := newKey(t, "stranger")
	ring, err := KeyRing(trustedPub)
	if err != nil {
		t.Fatal(err)
	}
	srv := gitserver.Start(t)
	srv.CreateRepo(t, "r")
	repo := &Repository{URL: srv.RepoURL("r"), CacheDir: t.TempDir() + "/c"}
	checkout := func() *Commit {
		t.Helper()
		rev, err := repo.Resolve(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		c, err := repo.Checkout(t.Context(), rev)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	srv.Commit(t, "r", "main", map[string]string{"a.yaml": validExperiment}, "signed", gitserver.SignCommit(trusted))
	signer, err := checkout().Verify(v1alpha1.VerifyHEAD, ring)
	if err != nil {
		t.Fatalf("signed commit: %v", err)
	}
	if want := trusted.PrimaryKey.KeyIdString(); signer != want {
		t.Errorf("signer %s, want %s", signer, want)
	}

	srv.Commit(t, "r", "main", map[string]string{"b.txt": "x"}, "unsigned")
	if _, err := checkout().Verify(v1alpha1.VerifyHEAD, ring); !errors.Is(err, ErrUnsigned) {
		t.Errorf("unsigned commit: %v, want ErrUnsigned", err)
	}

	sha := srv.Commit(t, "r", "main", map[string]string{"c.txt": "x"}, "by a stranger", gitserver.SignCommit(stranger))
	if _, err := checkout().Verify(v1alpha1.VerifyHEAD, ring); !errors.Is(err, ErrUntrusted) {
		t.Errorf("commit signed by an unknown key: %v, want ErrUntrusted", err)
	}

	// Tag mode: the annotated tag's signature counts, not the commit's.
	srv.Tag(t, "r", "v1", sha, gitserver.SignTag(trusted))
	repo.Ref = &v1alpha1.GitRef{Tag: "v1"}
	if _, err := checkout().Verify(v1alpha1.VerifyTag, ring); err != nil {
		t.Errorf("signed tag: %v", err)
	}
	if _, err := checkout().Verify(v1alpha1.VerifyTagAndHEAD, ring); !errors.Is(err, ErrUntrusted) {
		t.Errorf("signed tag on a stranger's commit with TagAndHEAD: %v, want ErrUntrusted", err)
	}
}

func TestFetchHonoursTimeouts(t *testing.T) {
	// A loopback server that accepts and never answers.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	repo := &Repository{URL: "http://" + ln.Addr().String() + "/r.git", CacheDir: t.TempDir()}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := repo.Resolve(ctx); err == nil {
		t.Fatal("resolve against a silent server succeeded")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("resolve ignored its deadline: returned after %v", d)
	}
	if _, err := repo.Checkout(ctx, Revision{Name: "main", Commit: strings.Repeat("a", 40), RefName: "refs/heads/main"}); err == nil {
		t.Fatal("checkout against a silent server succeeded")
	}
}
