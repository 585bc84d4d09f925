// Command pull-keyring answers, with the kubelet's own code, which registry
// credentials the kubelet would pull an image with, given a pod's pull secrets.
//
// The kubelet reads each Secret a pod lists in imagePullSecrets and hands them
// to credentialprovider/secrets.MakeDockerKeyring, then looks the image up in
// that keyring (pkg/kubelet/images). This program does the same two calls.
//
// stdin:  {"image": "<image reference>", "secrets": [<v1.Secret>, ...]}
// stdout: [{"secret": "<name>", "username": "...", "passwordSha256": "<hex>"}, ...]
//
// A test helper of kserve-vault-sync (the product is Python); built against
// k8s.io/kubernetes at the dev environment's version. Passwords are printed
// as hashes only.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"

	v1 "k8s.io/api/core/v1"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	"k8s.io/kubernetes/pkg/credentialprovider"
	"k8s.io/kubernetes/pkg/credentialprovider/secrets"
)

type input struct {
	Image   string      `json:"image"`
	Secrets []v1.Secret `json:"secrets"`
}

type found struct {
	Secret         string `json:"secret"`
	Username       string `json:"username"`
	PasswordSha256 string `json:"passwordSha256"`
}

func main() {
	// With this gate the keyring records which Secret each credential came from.
	_ = utilfeature.DefaultMutableFeatureGate.Set("KubeletEnsureSecretPulledImages=true")
	var in input
	if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
		fmt.Fprintln(os.Stderr, "pull-keyring: bad input:", err)
		os.Exit(2)
	}
	keyring, err := secrets.MakeDockerKeyring(in.Secrets, &credentialprovider.BasicDockerKeyring{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "pull-keyring: a pull secret does not parse:", err)
		os.Exit(1)
	}
	creds, _ := keyring.Lookup(in.Image)
	out := make([]found, 0, len(creds))
	for _, c := range creds {
		sum := sha256.Sum256([]byte(c.Password))
		name := ""
		if c.Source != nil && c.Source.Secret != nil {
			name = c.Source.Secret.Name
		}
		out = append(out, found{Secret: name, Username: c.Username,
			PasswordSha256: hex.EncodeToString(sum[:])})
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		os.Exit(1)
	}
}
