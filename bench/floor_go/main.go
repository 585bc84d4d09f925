// The Go floor: what the API server on this machine can take, with nothing of
// the syncer's cost in the way. It POSTs pre-rendered bodies (one JSON object
// per line: {"path": "/api/v1/namespaces/<ns>/secrets?...", "body": {...}},
// written by bench/bodies.py from the syncer's own render and diff) with
// -concurrency workers over one client. Go's net/http negotiates HTTP/2 over
// TLS (ALPN), so the workers share one connection as concurrent streams;
// -http1 forces HTTP/1.1 (one connection per worker) for comparison.
//
// Standard library only. Prints one JSON line on stdout:
//
//	{"seconds": 1.02, "created": 2000, "errors": 0, "proto": "HTTP/2.0", ...}
//
// Bodies and the token are never printed: errors name the status and path only.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type object struct {
	Path string          `json:"path"`
	Body json.RawMessage `json:"body"`
}

type result struct {
	Seconds     float64        `json:"seconds"`
	Created     int64          `json:"created"`
	Errors      int64          `json:"errors"`
	Statuses    map[string]int `json:"statuses"`
	Proto       string         `json:"proto"`
	Connections int            `json:"connections"`
	Concurrency int            `json:"concurrency"`
	FirstError  string         `json:"first_error,omitempty"`
}

func readBodies(path string) ([]object, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	var out []object
	scanner := bufio.NewScanner(fh)
	scanner.Buffer(make([]byte, 1<<20), 16<<20)
	for line := 1; scanner.Scan(); line++ {
		raw := bytes.TrimSpace(scanner.Bytes())
		if len(raw) == 0 {
			continue
		}
		var obj object
		if err := json.Unmarshal(raw, &obj); err != nil {
			// The JSON error text never quotes the input, so no value leaks here.
			return nil, fmt.Errorf("%s line %d: %v", path, line, err)
		}
		if obj.Path == "" || len(obj.Body) == 0 {
			return nil, fmt.Errorf("%s line %d: path and body are required", path, line)
		}
		out = append(out, obj)
	}
	return out, scanner.Err()
}

func newClient(caFile string, concurrency int, http1 bool) (*http.Client, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no PEM certificate", caFile)
	}
	transport := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:   !http1, // a custom TLS config turns h2 off unless asked for
		MaxIdleConnsPerHost: concurrency,
		IdleConnTimeout:     90 * time.Second,
	}
	if http1 {
		// A non-nil empty map is net/http's documented switch to disable HTTP/2.
		transport.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	return &http.Client{Transport: transport, Timeout: 60 * time.Second}, nil
}

func main() {
	server := flag.String("server", "", "API server URL, e.g. https://127.0.0.1:6443")
	caFile := flag.String("ca", "", "CA certificate (PEM) of the API server")
	tokenFile := flag.String("token-file", "", "file holding the bearer token")
	bodiesFile := flag.String("bodies", "", "JSON lines: {path, body}")
	concurrency := flag.Int("concurrency", 8, "concurrent requests")
	http1 := flag.Bool("http1", false, "force HTTP/1.1 instead of HTTP/2")
	flag.Parse()
	if *server == "" || *caFile == "" || *tokenFile == "" || *bodiesFile == "" || *concurrency < 1 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*server, *caFile, *tokenFile, *bodiesFile, *concurrency, *http1); err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
}

func run(server, caFile, tokenFile, bodiesFile string, concurrency int, http1 bool) error {
	tokenBytes, err := os.ReadFile(tokenFile)
	if err != nil {
		return err
	}
	auth := "Bearer " + strings.TrimSpace(string(tokenBytes))
	objects, err := readBodies(bodiesFile)
	if err != nil {
		return err
	}
	client, err := newClient(caFile, concurrency, http1)
	if err != nil {
		return err
	}
	server = strings.TrimRight(server, "/")

	// One request before the clock starts opens the connection (TLS and, with h2,
	// the one shared connection), so concurrent first requests do not race to dial.
	proto, err := warmUp(client, server, auth)
	if err != nil {
		return err
	}

	var (
		next, created, failed atomic.Int64
		mu                    sync.Mutex
		statuses              = map[string]int{}
		conns                 = map[string]bool{}
		firstError            string
		wg                    sync.WaitGroup
	)
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		mu.Lock()
		conns[info.Conn.LocalAddr().String()] = true
		mu.Unlock()
	}}
	ctx := httptrace.WithClientTrace(context.Background(), trace)
	started := time.Now()
	for w := 0; w < concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(len(objects)) {
					return
				}
				status, err := post(ctx, client, server+objects[i].Path, auth, objects[i].Body)
				key := fmt.Sprint(status)
				if err != nil {
					key = "transport"
				}
				mu.Lock()
				statuses[key]++
				if (err != nil || status != http.StatusCreated) && firstError == "" {
					firstError = describe(objects[i].Path, status, err)
				}
				mu.Unlock()
				if err == nil && status == http.StatusCreated {
					created.Add(1)
				} else {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	out := result{
		Seconds: time.Since(started).Seconds(), Created: created.Load(), Errors: failed.Load(),
		Statuses: statuses, Proto: proto, Connections: len(conns), Concurrency: concurrency,
		FirstError: firstError,
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		return err
	}
	if out.Errors > 0 {
		return fmt.Errorf("%d of %d creates failed; first: %s", out.Errors, len(objects), firstError)
	}
	return nil
}

func warmUp(client *http.Client, server, auth string) (string, error) {
	req, err := http.NewRequest(http.MethodGet, server+"/version", nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", auth)
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("GET /version: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET /version: HTTP %d", resp.StatusCode)
	}
	return resp.Proto, nil
}

func post(ctx context.Context, client *http.Client, url, auth string, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", auth)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	// Read the whole response, as a real client would, so the stream completes.
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, err
}

func describe(path string, status int, err error) string {
	if err != nil {
		var urlErr interface{ Timeout() bool }
		if errors.As(err, &urlErr) && urlErr.Timeout() {
			return fmt.Sprintf("POST %s: timeout", path)
		}
		return fmt.Sprintf("POST %s: %v", path, err)
	}
	return fmt.Sprintf("POST %s: HTTP %d", path, status)
}
