package hostagent

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// credential is what registration yields, kept next to the journal so a
// restarted agent heartbeats at once instead of registering again (its join
// token may have been single use).
type credential struct {
	Hub        string `json:"hub"`
	Agent      string `json:"agent"`
	Credential string `json:"credential"`
}

func loadCredential(path string) (*credential, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read credential: %w", err)
	}
	var c credential
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("credential file %s: %w", path, err)
	}
	return &c, nil
}

// save writes the credential atomically, readable by the owner only.
func (c *credential) save(path string) error {
	raw, err := json.Marshal(c)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".credential-*")
	if err != nil {
		return fmt.Errorf("save credential: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(raw); err != nil {
		tmp.Close()
		return fmt.Errorf("save credential: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save credential: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("save credential: %w", err)
	}
	return nil
}
