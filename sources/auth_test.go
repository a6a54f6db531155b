package sources

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"net"
	"strings"
	"testing"

	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh"
)

func TestAuthFromSecret(t *testing.T) {
	basic, err := AuthFromSecret("https://git.example.test/r.git", map[string][]byte{"username": []byte("u"), "password": []byte("p")}, t.TempDir())
	if b, ok := basic.(*githttp.BasicAuth); err != nil || !ok || b.Username != "u" || b.Password != "p" {
		t.Errorf("basic: %#v %v", basic, err)
	}
	bearer, err := AuthFromSecret("https://git.example.test/r.git", map[string][]byte{"bearerToken": []byte("tok"), "username": []byte("u")}, t.TempDir())
	if b, ok := bearer.(*githttp.TokenAuth); err != nil || !ok || b.Token != "tok" {
		t.Errorf("bearer: %#v %v", bearer, err)
	}
	if _, err := AuthFromSecret("https://git.example.test/r.git", map[string][]byte{}, t.TempDir()); err == nil {
		t.Error("an empty secret was accepted")
	}

	// SSH: the identity is used, and only hosts in known_hosts are trusted.
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	identity := pem.EncodeToMemory(block)
	hostPub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	hostKey, err := ssh.NewPublicKey(hostPub)
	if err != nil {
		t.Fatal(err)
	}
	knownHosts := "git.example.test " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(hostKey))) + "\n"
	if _, err := AuthFromSecret("ssh://git@git.example.test/r.git", map[string][]byte{"identity": identity}, t.TempDir()); err == nil ||
		!strings.Contains(err.Error(), "known_hosts") {
		t.Errorf("ssh without known_hosts: %v", err)
	}
	auth, err := AuthFromSecret("ssh://deploy@git.example.test/r.git", map[string][]byte{"identity": identity, "known_hosts": []byte(knownHosts)}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	pk, ok := auth.(*gitssh.PublicKeys)
	if !ok || pk.User != "deploy" {
		t.Fatalf("ssh auth %#v", auth)
	}
	addr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 22}
	if err := pk.HostKeyCallback("git.example.test:22", addr, hostKey); err != nil {
		t.Errorf("the known host key was refused: %v", err)
	}
	otherPub, _, _ := ed25519.GenerateKey(rand.Reader)
	other, _ := ssh.NewPublicKey(otherPub)
	if err := pk.HostKeyCallback("git.example.test:22", addr, other); err == nil {
		t.Error("an unknown host key was accepted")
	}
}
