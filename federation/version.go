package federation

import (
	"encoding/json"
	"fmt"
)

// parseGitVersion reads gitVersion from an API server's /version answer.
func parseGitVersion(raw []byte) (string, error) {
	var v struct {
		GitVersion string `json:"gitVersion"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", fmt.Errorf("decoding /version: %w", err)
	}
	if v.GitVersion == "" {
		return "", fmt.Errorf("/version has no gitVersion")
	}
	return v.GitVersion, nil
}
