package sources

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/go-git/go-git/v5/plumbing"

	v1alpha1 "github.com/faultline-dev/faultline/crds/v1alpha1"
)

// Verification errors: a revision failing either is refused whole.
var (
	ErrUnsigned  = errors.New("not signed")
	ErrUntrusted = errors.New("signature does not verify with any trusted key")
)

// KeyRing reads ASCII-armoured OpenPGP public keys, one or more per value
// (the values of the verification Secret).
func KeyRing(armored ...[]byte) (openpgp.EntityList, error) {
	var ring openpgp.EntityList
	for _, a := range armored {
		rest := a
		for len(bytes.TrimSpace(rest)) > 0 {
			// ReadArmoredKeyRing reads one armour block; values may hold several.
			end := bytes.Index(rest, []byte("-----END PGP PUBLIC KEY BLOCK-----"))
			block := rest
			if end >= 0 {
				block, rest = rest[:end+len("-----END PGP PUBLIC KEY BLOCK-----")], rest[end+len("-----END PGP PUBLIC KEY BLOCK-----"):]
			} else {
				rest = nil
			}
			el, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(block))
			if err != nil {
				return nil, fmt.Errorf("reading OpenPGP public keys: %w", err)
			}
			ring = append(ring, el...)
		}
	}
	if len(ring) == 0 {
		return nil, errors.New("no OpenPGP public key given")
	}
	return ring, nil
}

// Verify checks the signatures mode asks for against ring and returns the
// key ID (upper-case hex) of the signer, of the commit when checked, else
// of the tag.
func (c *Commit) Verify(mode v1alpha1.VerifyMode, ring openpgp.EntityList) (string, error) {
	if mode == "" {
		mode = v1alpha1.VerifyHEAD
	}
	var signer string
	if mode == v1alpha1.VerifyTag || mode == v1alpha1.VerifyTagAndHEAD {
		if c.Revision.Tag == "" {
			return "", fmt.Errorf("tag verification needs an annotated tag; %s is not one: %w", c.Revision, ErrUnsigned)
		}
		tag, err := c.repo.TagObject(plumbing.NewHash(c.Revision.Tag))
		if err != nil {
			return "", fmt.Errorf("reading tag %s: %w", c.Revision.Name, err)
		}
		if tag.PGPSignature == "" {
			return "", fmt.Errorf("tag %s: %w", c.Revision.Name, ErrUnsigned)
		}
		enc := &plumbing.MemoryObject{}
		if err := tag.EncodeWithoutSignature(enc); err != nil {
			return "", err
		}
		if signer, err = checkSignature(ring, enc, tag.PGPSignature); err != nil {
			return "", fmt.Errorf("tag %s: %w", c.Revision.Name, err)
		}
	}
	if mode == v1alpha1.VerifyHEAD || mode == v1alpha1.VerifyTagAndHEAD {
		commit, err := c.repo.CommitObject(plumbing.NewHash(c.Revision.Commit))
		if err != nil {
			return "", err
		}
		if commit.PGPSignature == "" {
			return "", fmt.Errorf("commit %s: %w", short(c.Revision.Commit), ErrUnsigned)
		}
		enc := &plumbing.MemoryObject{}
		if err := commit.EncodeWithoutSignature(enc); err != nil {
			return "", err
		}
		if signer, err = checkSignature(ring, enc, commit.PGPSignature); err != nil {
			return "", fmt.Errorf("commit %s: %w", short(c.Revision.Commit), err)
		}
	}
	return signer, nil
}

func checkSignature(ring openpgp.EntityList, obj *plumbing.MemoryObject, sig string) (string, error) {
	if strings.Count(sig, "-----BEGIN PGP SIGNATURE-----") != 1 {
		return "", fmt.Errorf("want exactly one signature: %w", ErrUntrusted)
	}
	r, err := obj.Reader()
	if err != nil {
		return "", err
	}
	defer r.Close()
	signed, err := io.ReadAll(r)
	if err != nil {
		return "", err
	}
	entity, err := openpgp.CheckArmoredDetachedSignature(ring, bytes.NewReader(signed), strings.NewReader(sig), nil)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrUntrusted, err)
	}
	return strings.ToUpper(entity.PrimaryKey.KeyIdString()), nil
}

func short(hash string) string {
	if len(hash) > 12 {
		return hash[:12]
	}
	return hash
}
