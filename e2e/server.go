package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Server is one cc-backend server directory (created by `cc-backend -init`)
// and, while running, its process. All traffic goes to 127.0.0.1.
type Server struct {
	Bin    string // the cc-backend binary
	Dir    string // the server directory (cwd of every run)
	Addr   string // 127.0.0.1:PORT
	JWT    string
	Layout *Layout
	// Config of the metric-store section.
	CheckpointInterval string
	Retention          string
	CheckpointSubdir   string // below Dir; "" is var/checkpoints

	cmd     *exec.Cmd
	started time.Time
	done    chan struct{}
	exitErr error
	logPath string
	log     *os.File
}

// live holds every server process started, so that the harness kills them
// all on its way out (also on a fatal error).
var live struct {
	sync.Mutex
	procs map[*Server]struct{}
}

func track(s *Server, on bool) {
	live.Lock()
	defer live.Unlock()
	if live.procs == nil {
		live.procs = map[*Server]struct{}{}
	}
	if on {
		live.procs[s] = struct{}{}
	} else {
		delete(live.procs, s)
	}
}

// killAll SIGKILLs every server this harness started and still runs.
func killAll() {
	live.Lock()
	procs := make([]*Server, 0, len(live.procs))
	for s := range live.procs {
		procs = append(procs, s)
	}
	live.Unlock()
	for _, s := range procs {
		s.Kill()
	}
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// NewServer creates a fresh server directory: `-init`, the cluster
// description in the job archive, config.json, an API user and its JWT.
func NewServer(bin, dir string, layout *Layout, checkpointInterval, retention string) (*Server, error) {
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &Server{Bin: bin, Dir: dir, Addr: addr, Layout: layout,
		CheckpointInterval: checkpointInterval, Retention: retention,
		logPath: filepath.Join(dir, "server.log")}

	if out, err := s.runOnce("-init"); err != nil {
		return nil, fmt.Errorf("%s -init: %v\n%s", bin, err, out)
	}
	clusterDir := filepath.Join(dir, "var", "job-archive", layout.Cluster)
	if err := os.MkdirAll(clusterDir, 0o755); err != nil {
		return nil, err
	}
	if err := writeJSON(filepath.Join(clusterDir, "cluster.json"), layout.ClusterJSON()); err != nil {
		return nil, err
	}
	if err := writeJSON(filepath.Join(dir, "config.json"), s.config()); err != nil {
		return nil, err
	}
	out, err := s.runOnce("-add-user", "e2e:admin,api:e2e-password", "-jwt", "e2e")
	if err != nil {
		return nil, fmt.Errorf("%s -add-user/-jwt: %v\n%s", bin, err, out)
	}
	m := regexp.MustCompile(`JWT for user 'e2e': (\S+)`).FindSubmatch(out)
	if m == nil {
		return nil, fmt.Errorf("no JWT in the output of -jwt:\n%s", out)
	}
	s.JWT = string(m[1])
	return s, nil
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func (s *Server) config() map[string]any {
	return map[string]any{
		"main": map[string]any{
			"addr":                        s.Addr,
			"short-running-jobs-duration": 300,
			"api-allowed-ips":             []string{"127.0.0.1"},
		},
		"cron": map[string]any{
			"commit-job-worker": "1m",
			"duration-worker":   "5m",
			"footprint-worker":  "10m",
		},
		"archive": map[string]any{"kind": "file", "path": "./var/job-archive"},
		"auth":    map[string]any{"jwts": map[string]any{"max-age": "2000h"}},
		"metric-store": map[string]any{
			"checkpoints": map[string]any{
				"file-format": "wal",
				"directory":   "./" + s.checkpointSubdir(),
			},
			"checkpoint-interval": s.CheckpointInterval,
			"retention-in-memory": s.Retention,
			"memory-cap":          100,
		},
	}
}

// CheckpointDir is the metric store's root (WAL and snapshots).
func (s *Server) CheckpointDir() string { return filepath.Join(s.Dir, s.checkpointSubdir()) }

func (s *Server) checkpointSubdir() string {
	if s.CheckpointSubdir == "" {
		return filepath.Join("var", "checkpoints")
	}
	return s.CheckpointSubdir
}

// runOnce runs the binary to completion in the server directory (bounded).
func (s *Server) runOnce(args ...string) ([]byte, error) {
	cmd := exec.Command(s.Bin, args...)
	cmd.Dir = s.Dir
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return buf.Bytes(), err
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		<-done
		return buf.Bytes(), fmt.Errorf("timed out")
	}
}

// Start starts the server and waits until /api/write answers 2xx (at most
// timeout). It returns the time from exec to that first 2xx.
func (s *Server) Start(label string, timeout time.Duration) (time.Duration, error) {
	if s.cmd != nil {
		return 0, fmt.Errorf("server already running")
	}
	f, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return 0, err
	}
	fmt.Fprintf(f, "\n===== e2e: start (%s) %s =====\n", label, time.Now().Format(time.RFC3339Nano))
	s.log = f
	cmd := exec.Command(s.Bin, "-server", "-loglevel", "info", "-logdate")
	cmd.Dir = s.Dir
	cmd.Stdout, cmd.Stderr = f, f
	// Own process group, so that a Ctrl-C of the harness does not reach the
	// server before the harness decides what to send.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		f.Close()
		return 0, err
	}
	s.cmd = cmd
	s.started = t0
	s.done = make(chan struct{})
	track(s, true)
	go func() {
		s.exitErr = cmd.Wait()
		close(s.done)
	}()
	client := &http.Client{Timeout: 5 * time.Second}
	deadline := t0.Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return 0, fmt.Errorf("server exited during start-up (%v); log: %s", s.exitErr, s.logPath)
		default:
		}
		code, _, err := s.post(client, "/api/write/?cluster="+s.Layout.Cluster, nil)
		if err == nil && code/100 == 2 {
			return time.Since(t0), nil
		}
		if err == nil && code != 0 && code/100 != 5 {
			s.Kill()
			return 0, fmt.Errorf("probe of /api/write answered %d; log: %s", code, s.logPath)
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.Kill()
	return 0, fmt.Errorf("server not ready within %v; log: %s", timeout, s.logPath)
}

func (s *Server) post(client *http.Client, path string, body []byte) (int, []byte, error) {
	return s.postCT(client, path, "text/plain", body)
}

func (s *Server) postCT(client *http.Client, path, contentType string, body []byte) (int, []byte, error) {
	req, err := http.NewRequest(http.MethodPost, "http://"+s.Addr+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+s.JWT)
	req.Header.Set("Content-Type", contentType)
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var out bytes.Buffer
	_, err = out.ReadFrom(resp.Body)
	return resp.StatusCode, out.Bytes(), err
}

// Kill sends SIGKILL and waits for the process to be gone.
func (s *Server) Kill() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.done
	s.finish("SIGKILL")
}

// Term sends SIGTERM and waits (at most timeout, then SIGKILL). It reports
// whether the server exited on its own.
func (s *Server) Term(timeout time.Duration) bool {
	if s.cmd == nil {
		return true
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
		s.finish("SIGTERM")
		return true
	case <-time.After(timeout):
		s.Kill()
		return false
	}
}

func (s *Server) finish(how string) {
	fmt.Fprintf(s.log, "===== e2e: %s, exit: %v =====\n", how, s.exitErr)
	s.log.Close()
	track(s, false)
	s.cmd = nil
}

// LogSize is the current size of server.log (an offset for WaitLog).
func (s *Server) LogSize() int64 {
	fi, err := os.Stat(s.logPath)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// WaitLog waits (at most timeout) for a log line after offset matching re.
func (s *Server) WaitLog(offset int64, re *regexp.Regexp, timeout time.Duration) (string, bool) {
	deadline := time.Now().Add(timeout)
	for {
		if line, ok := s.grepLog(offset, re); ok {
			return line, true
		}
		if time.Now().After(deadline) {
			return "", false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *Server) grepLog(offset int64, re *regexp.Regexp) (string, bool) {
	f, err := os.Open(s.logPath)
	if err != nil {
		return "", false
	}
	defer f.Close()
	if _, err := f.Seek(offset, 0); err != nil {
		return "", false
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if re.MatchString(sc.Text()) {
			return sc.Text(), true
		}
	}
	return "", false
}

// LogMaxInt is the largest integer captured by re's first group in the log
// after offset (e.g. the last "dropped N messages"), or -1.
func (s *Server) LogMaxInt(offset int64, re *regexp.Regexp) int64 {
	b, err := os.ReadFile(s.logPath)
	if err != nil || int64(len(b)) < offset {
		return -1
	}
	best := int64(-1)
	for _, m := range re.FindAllSubmatch(b[offset:], -1) {
		if v, err := strconv.ParseInt(string(m[1]), 10, 64); err == nil && v > best {
			best = v
		}
	}
	return best
}

// LogCount counts the lines after offset matching re.
func (s *Server) LogCount(offset int64, re *regexp.Regexp) int {
	b, err := os.ReadFile(s.logPath)
	if err != nil || int64(len(b)) < offset {
		return 0
	}
	n := 0
	for _, line := range strings.Split(string(b[offset:]), "\n") {
		if re.MatchString(line) {
			n++
		}
	}
	return n
}

// DirBytes is the total size of the regular files below dir.
func DirBytes(dir string) (int64, int) {
	var total int64
	files := 0
	_ = filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if fi, err := d.Info(); err == nil && fi.Mode().IsRegular() {
			total += fi.Size()
			files++
		}
		return nil
	})
	return total, files
}

// usage is the running server's resident memory (KiB) and open descriptors.
func (s *Server) usage() (rssKiB int64, fds int) {
	if s.cmd == nil {
		return -1, -1
	}
	rssKiB = s.statusKiB("VmRSS:")
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", s.cmd.Process.Pid))
	if err == nil {
		fds = len(entries)
	}
	return rssKiB, fds
}

// statusKiB is a KiB field of the running server's /proc/PID/status
// ("VmRSS:", "VmHWM:" for the peak), -1 when it cannot be read.
func (s *Server) statusKiB(field string) int64 {
	if s.cmd == nil {
		return -1
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == field {
			kib, _ := strconv.ParseInt(f[1], 10, 64)
			return kib
		}
	}
	return -1
}

// cpuTime is the running server's user + system CPU time so far, in
// nanoseconds (from /proc/PID/stat; 0 when it cannot be read).
func (s *Server) cpuTime() time.Duration {
	if s.cmd == nil {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// The fields after the command name (in parentheses, which may hold
	// spaces): utime and stime are the 14th and 15th of the line.
	rest := string(b[strings.LastIndexByte(string(b), ')')+2:])
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / clockTicks
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat times: 100 on Linux
// for every architecture Go runs on.
const clockTicks = 100
