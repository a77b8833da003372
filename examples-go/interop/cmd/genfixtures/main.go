// Command genfixtures writes ground-truth fixtures for ccwal with the real
// metricstore of cc-backend v1.5.4, driven only through its exported API.
//
// Every fixture is a checkpoint ROOT (fixture/root/CLUSTER/HOST/...) written
// by WALStaging/SendWALMessage, Write + ToCheckpointWAL/ToCheckpoint and
// RotateWALFiles, optionally damaged afterwards (each change is logged), plus
// expected.json: the state that FromCheckpointFiles restores from that ROOT
// for one or more horizons, observed through DebugDump and Read.
//
// The metricstore is a process-wide singleton (InitMetrics runs once, WAL
// staging keeps global channels), so every write phase and every restore
// case runs in a fresh child process of this same binary.
//
//	go run ./cmd/genfixtures [-out DIR] [-only name,name]
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	cclog "github.com/ClusterCockpit/cc-lib/v2/ccLogger"
)

const (
	phaseEnv = "GENFIXTURES_PHASE" // set in child processes: "write" or "restore"
	argsEnv  = "GENFIXTURES_ARGS"  // JSON-encoded childArgs
)

// childArgs tells a child process what to do.
type childArgs struct {
	Fixture string      `json:"fixture"`
	Root    string      `json:"root"`
	Result  string      `json:"result"` // file the child writes its JSON result to
	Case    restoreCase `json:"case"`
}

func main() {
	if phase := os.Getenv(phaseEnv); phase != "" {
		if err := runChild(phase); err != nil {
			fmt.Fprintf(os.Stderr, "genfixtures child (%s): %v\n", phase, err)
			os.Exit(1)
		}
		return
	}

	out := flag.String("out", "../../tests/fixtures/go", "directory that receives one sub-directory per fixture")
	only := flag.String("only", "", "comma-separated fixture names (default: all)")
	flag.Parse()

	if err := generate(*out, *only); err != nil {
		fmt.Fprintf(os.Stderr, "genfixtures: %v\n", err)
		os.Exit(1)
	}
}

func runChild(phase string) error {
	// The metricstore logs through cclog; keep the children quiet unless
	// something is wrong (errors still reach stderr).
	cclog.Init("err", false)

	var args childArgs
	if err := json.Unmarshal([]byte(os.Getenv(argsEnv)), &args); err != nil {
		return fmt.Errorf("bad %s: %w", argsEnv, err)
	}
	fx, ok := fixtureByName(args.Fixture)
	if !ok {
		return fmt.Errorf("unknown fixture %q", args.Fixture)
	}

	var result any
	switch phase {
	case "write":
		log, err := runWrite(fx, args.Root)
		if err != nil {
			return err
		}
		result = log
	case "restore":
		res, err := runRestore(args.Root, args.Case)
		if err != nil {
			return err
		}
		result = res
	default:
		return fmt.Errorf("unknown phase %q", phase)
	}
	return writeJSON(args.Result, result)
}

// spawn runs one phase of one fixture in a fresh child process and decodes
// its result into dst.
func spawn(phase string, args childArgs, dst any) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	enc, err := json.Marshal(args)
	if err != nil {
		return err
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), phaseEnv+"="+phase, argsEnv+"="+string(enc))
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s phase of %s: %w", phase, args.Fixture, err)
	}
	data, err := os.ReadFile(args.Result)
	if err != nil {
		return err
	}
	defer os.Remove(args.Result)
	return json.Unmarshal(data, dst)
}

// expectedFile is the schema of FIXTURE/expected.json (see the README next
// to the fixtures).
type expectedFile struct {
	Fixture       string           `json:"fixture"`
	Description   string           `json:"description"`
	GeneratedBy   string           `json:"generated_by"`
	Root          string           `json:"root"`
	Clusters      []string         `json:"clusters"`
	WriteMetrics  map[string]int64 `json:"write_metrics"`
	MaxWALSize    int64            `json:"max_wal_size"`
	Inputs        []inputRecord    `json:"inputs"`
	Writer        []writerCall     `json:"writer"`
	Manipulations []string         `json:"manipulations"`
	Cases         []restoreResult  `json:"cases"`
}

func generate(out, only string) error {
	selected := map[string]bool{}
	for _, name := range strings.Split(only, ",") {
		if name = strings.TrimSpace(name); name != "" {
			if _, ok := fixtureByName(name); !ok {
				return fmt.Errorf("unknown fixture %q", name)
			}
			selected[name] = true
		}
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}

	for _, fx := range fixtures() {
		if len(selected) > 0 && !selected[fx.Name] {
			continue
		}
		fmt.Fprintf(os.Stderr, "genfixtures: %s\n", fx.Name)
		if err := generateOne(out, fx); err != nil {
			return fmt.Errorf("%s: %w", fx.Name, err)
		}
	}
	return nil
}

func generateOne(out string, fx fixture) error {
	final := filepath.Join(out, fx.Name)
	staging, err := os.MkdirTemp(out, "."+fx.Name+".staging-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(staging)
	root := filepath.Join(staging, "root")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return err
	}

	var log writeLog
	if err := spawn("write", childArgs{Fixture: fx.Name, Root: root, Result: filepath.Join(staging, "write.json")}, &log); err != nil {
		return err
	}

	var manipulations []string
	if fx.Manipulate != nil {
		if manipulations, err = fx.Manipulate(root); err != nil {
			return fmt.Errorf("manipulate: %w", err)
		}
	}

	// Go writes snapshot metrics and children in map order, so the bytes of
	// a .bin/.json differ between runs. Keep the committed file whenever the
	// new one holds the same snapshot, so re-running does not churn.
	if err := keepEquivalentFiles(filepath.Join(final, "root"), root); err != nil {
		return err
	}

	exp := expectedFile{
		Fixture:       fx.Name,
		Description:   fx.Description,
		GeneratedBy:   "examples-go/interop/cmd/genfixtures with github.com/ClusterCockpit/cc-backend v1.5.4 (pkg/metricstore)",
		Root:          "root",
		WriteMetrics:  fx.metrics(),
		MaxWALSize:    fx.MaxWALSize,
		Inputs:        log.Inputs,
		Writer:        log.Calls,
		Manipulations: manipulations,
	}
	if exp.Manipulations == nil {
		exp.Manipulations = []string{}
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		return err
	}
	for _, e := range entries {
		exp.Clusters = append(exp.Clusters, e.Name())
	}

	for i, rc := range fx.Cases {
		if rc.Metrics == nil {
			rc.Metrics = fx.metrics()
		}
		var res restoreResult
		args := childArgs{Fixture: fx.Name, Root: root, Result: filepath.Join(staging, fmt.Sprintf("restore-%d.json", i)), Case: rc}
		if err := spawn("restore", args, &res); err != nil {
			return err
		}
		exp.Cases = append(exp.Cases, res)
	}

	if err := writeJSON(filepath.Join(staging, "expected.json"), exp); err != nil {
		return err
	}
	if err := os.RemoveAll(final); err != nil {
		return err
	}
	return os.Rename(staging, final)
}

// writeJSON writes v as indented JSON in which every array or object that
// fits in a short line, and every array of numbers, stays on one line.
func writeJSON(path string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tree, err := readNode(dec)
	if err != nil {
		return err
	}
	var out bytes.Buffer
	tree.format(&out, "")
	out.WriteByte('\n')
	return os.WriteFile(path, out.Bytes(), 0o644)
}

// jsonNode is a decoded JSON value that keeps the order of object keys.
type jsonNode struct {
	scalar  []byte // compact encoding of a string, number, bool or null
	isObj   bool
	keys    []string
	members []*jsonNode
}

func readNode(dec *json.Decoder) (*jsonNode, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	delim, ok := tok.(json.Delim)
	if !ok {
		enc, err := json.Marshal(tok)
		return &jsonNode{scalar: enc}, err
	}
	n := &jsonNode{isObj: delim == '{', members: []*jsonNode{}}
	for dec.More() {
		if n.isObj {
			key, err := dec.Token()
			if err != nil {
				return nil, err
			}
			n.keys = append(n.keys, key.(string))
		}
		m, err := readNode(dec)
		if err != nil {
			return nil, err
		}
		n.members = append(n.members, m)
	}
	_, err = dec.Token() // closing delimiter
	return n, err
}

func (n *jsonNode) compact() string {
	if n.scalar != nil {
		return string(n.scalar)
	}
	parts := make([]string, len(n.members))
	for i, m := range n.members {
		parts[i] = m.compact()
		if n.isObj {
			k, _ := json.Marshal(n.keys[i])
			parts[i] = string(k) + ": " + parts[i]
		}
	}
	if n.isObj {
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func (n *jsonNode) numbersOnly() bool {
	if n.isObj || n.scalar != nil {
		return false
	}
	for _, m := range n.members {
		if m.scalar == nil || m.scalar[0] == '"' {
			return false
		}
	}
	return true
}

func (n *jsonNode) format(out *bytes.Buffer, indent string) {
	if c := n.compact(); n.scalar != nil || len(indent)+len(c) <= 120 || n.numbersOnly() {
		out.WriteString(c)
		return
	}
	open, close := "[", "]"
	if n.isObj {
		open, close = "{", "}"
	}
	out.WriteString(open + "\n")
	for i, m := range n.members {
		out.WriteString(indent + "  ")
		if n.isObj {
			k, _ := json.Marshal(n.keys[i])
			out.Write(k)
			out.WriteString(": ")
		}
		m.format(out, indent+"  ")
		if i < len(n.members)-1 {
			out.WriteByte(',')
		}
		out.WriteByte('\n')
	}
	out.WriteString(indent + close)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
