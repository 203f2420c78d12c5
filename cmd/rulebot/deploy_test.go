package main

import (
	"bufio"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rulebot/rulebot/internal/memory"
)

// The deployment files (app.json, deploy/rulebot.service, Dockerfile,
// examples/starter) are checked here against the code they deploy: the
// environment variables they set must be ones rulebot reads, and the
// process settings must fit how rulebot handles signals and exit codes.

// envRead returns the environment variables the module's code reads: the
// literal names passed to a function called getenv or Getenv, and the
// string constants named Env… (internal/memory's REDIS_URL and
// REDIS_TLS_SKIP_VERIFY), found in the non-test Go files of the module.
func envRead(t *testing.T) []string {
	t.Helper()
	var names []string
	fset := token.NewFileSet()
	err := filepath.WalkDir("../..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != "../.." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "examples" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		lit := func(e ast.Expr) {
			if bl, ok := e.(*ast.BasicLit); ok && bl.Kind == token.STRING {
				if s, err := strconv.Unquote(bl.Value); err == nil {
					names = append(names, s)
				}
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CallExpr:
				var name string
				switch fn := n.Fun.(type) {
				case *ast.Ident:
					name = fn.Name
				case *ast.SelectorExpr:
					name = fn.Sel.Name
				}
				if (name == "getenv" || name == "Getenv") && len(n.Args) == 1 {
					lit(n.Args[0])
				}
			case *ast.ValueSpec:
				for i, id := range n.Names {
					if strings.HasPrefix(id.Name, "Env") && i < len(n.Values) {
						lit(n.Values[i])
					}
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(names, "SLACK_BOT_TOKEN") || !slices.Contains(names, "REDIS_URL") {
		t.Fatalf("the scan of the code found only %v", names)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// hasStringVar says whether package main declares a package-level string
// variable of this name (the linker's -X can only set such a variable).
func hasStringVar(t *testing.T, name string) bool {
	t.Helper()
	pkgs, err := parser.ParseDir(token.NewFileSet(), ".", func(fi fs.FileInfo) bool {
		return !strings.HasSuffix(fi.Name(), "_test.go")
	}, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range pkgs["main"].Files {
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.VAR {
				continue
			}
			for _, s := range gd.Specs {
				vs := s.(*ast.ValueSpec)
				typ, _ := vs.Type.(*ast.Ident)
				for _, id := range vs.Names {
					if id.Name == name && typ != nil && typ.Name == "string" {
						return true
					}
				}
			}
		}
	}
	return false
}

func TestAppJSON(t *testing.T) {
	data, err := os.ReadFile("../../app.json")
	if err != nil {
		t.Fatal(err)
	}
	var app struct {
		Buildpacks []struct{ URL string }
		Formation  map[string]struct{ Quantity int }
		Env        map[string]struct {
			Description string
			Value       string
			Required    *bool
		}
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	if err := dec.Decode(&app); err != nil {
		t.Fatal(err)
	}
	// One worker and nothing else: the Procfile has no web process, and a
	// second replica only waits for the first one's RTM lease.
	if len(app.Formation) != 1 || app.Formation["worker"].Quantity != 1 {
		t.Errorf("formation = %+v, want only worker with quantity 1", app.Formation)
	}
	if len(app.Buildpacks) != 1 || app.Buildpacks[0].URL != "heroku/go" {
		t.Errorf("buildpacks = %+v, want heroku/go", app.Buildpacks)
	}
	read := envRead(t)
	for name, v := range app.Env {
		if v.Description == "" {
			t.Errorf("env %s has no description", name)
		}
		required := v.Required == nil || *v.Required // app.json's default is required
		if want := name == "SLACK_BOT_TOKEN" || name == "SLACK_APP_TOKEN"; required != want {
			t.Errorf("env %s: required = %v, want %v", name, required, want)
		}
		if name == "GO_LINKER_SYMBOL" { // read by the buildpack, for the linker's -X
			sym, ok := strings.CutPrefix(v.Value, "main.")
			if !ok || !hasStringVar(t, sym) {
				t.Errorf("GO_LINKER_SYMBOL=%q names no string variable of package main", v.Value)
			}
			continue
		}
		if !slices.Contains(read, name) {
			t.Errorf("app.json sets %s, which rulebot never reads (it reads %v)", name, read)
		}
	}
	for _, want := range []string{"SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "GO_LINKER_SYMBOL"} {
		if _, ok := app.Env[want]; !ok {
			t.Errorf("app.json does not ask for %s", want)
		}
	}
}

// defaultGrace is run's -grace default, read from its usage.
func defaultGrace(t *testing.T) time.Duration {
	t.Helper()
	_, _, usage := rulebot(t, nil, "", "run", "-h")
	m := regexp.MustCompile(`-grace duration\n.*\(default (\S+)\)`).FindStringSubmatch(usage)
	if m == nil {
		t.Fatalf("no -grace default in run's usage:\n%s", usage)
	}
	d, err := time.ParseDuration(m[1])
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestSystemdUnit(t *testing.T) {
	const path = "../../deploy/rulebot.service"
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	svc := map[string]string{} // [Service] keys; a repeated key keeps its last value
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "["):
			section = line
		case section == "[Service]":
			k, v, _ := strings.Cut(line, "=")
			svc[k] = v
		}
	}
	for k, want := range map[string]string{
		"ExecStart":                "/usr/local/bin/rulebot run -rules /etc/rulebot/rules.yaml",
		"ExecReload":               "/bin/kill -HUP $MAINPID",
		"Restart":                  "on-failure",
		"RestartPreventExitStatus": "2", // rulebot's exit code for a rejected token or broken rules
		"KillSignal":               "SIGTERM",
		"NoNewPrivileges":          "yes",
		"ProtectSystem":            "strict",
		"PrivateTmp":               "yes",
		"WorkingDirectory":         "/var/lib/rulebot",
		"ReadWritePaths":           "/var/lib/rulebot", // where the memory file is
		"EnvironmentFile":          "/etc/rulebot/rulebot.env",
		"User":                     "rulebot",
		"StateDirectory":           "rulebot",
		"RestrictAddressFamilies":  "AF_INET AF_INET6 AF_UNIX",
		"CapabilityBoundingSet":    "",
		"SystemCallArchitectures":  "native",
		"MemoryDenyWriteExecute":   "yes",
		"ProtectHome":              "yes",
		"ProtectKernelTunables":    "yes",
		"ProtectControlGroups":     "yes",
		"RestrictSUIDSGID":         "yes",
		"RestrictNamespaces":       "yes",
		"LockPersonality":          "yes",
		"PrivateDevices":           "yes",
		"ProtectClock":             "yes",
		"ProtectHostname":          "yes",
		"ProtectKernelModules":     "yes",
		"ProtectKernelLogs":        "yes",
		"RestrictRealtime":         "yes",
		"UMask":                    "0077",
		"RestartSec":               "5s",
		"Type":                     "simple",
		"Group":                    "rulebot",
	} {
		if got, ok := svc[k]; !ok || got != want {
			t.Errorf("[Service] %s=%q, want %q", k, got, want)
		}
	}
	// rulebot exits at most hardStopSlack after -grace; systemd must wait
	// longer before it sends SIGKILL.
	stop, err := time.ParseDuration(svc["TimeoutStopSec"])
	if err != nil {
		t.Fatalf("TimeoutStopSec: %v", err)
	}
	if min := defaultGrace(t) + hardStopSlack; stop <= min {
		t.Errorf("TimeoutStopSec=%s, want more than -grace plus %s (%s)", stop, hardStopSlack, min)
	}

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed: the unit was not verified by systemd")
	}
	// verify needs an ExecStart that exists: the rulebot built by TestMain.
	unit, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(t.TempDir(), "rulebot.service")
	if err := os.WriteFile(tmp, []byte(strings.ReplaceAll(string(unit), "/usr/local/bin/rulebot", binary)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", tmp).CombinedOutput()
	// An unknown key is only a warning (exit 0), so any output fails too.
	if err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// dockerInstr is one instruction of a Dockerfile: its keyword, upper case,
// and its arguments, continuation lines joined.
type dockerInstr struct{ cmd, args string }

func parseDockerfile(t *testing.T, path string) [][]dockerInstr {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var stages [][]dockerInstr
	var cur string
	for line := range strings.Lines(string(data)) {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "#") || (line == "" && cur == "") {
			continue
		}
		if s, ok := strings.CutSuffix(line, `\`); ok {
			cur += s + " "
			continue
		}
		cur += line
		cmd, args, _ := strings.Cut(cur, " ")
		cur = ""
		in := dockerInstr{strings.ToUpper(cmd), strings.Join(strings.Fields(args), " ")}
		if in.cmd == "FROM" {
			stages = append(stages, nil)
		}
		if len(stages) > 0 {
			stages[len(stages)-1] = append(stages[len(stages)-1], in)
		}
	}
	return stages
}

// TestDockerfile checks the Dockerfile's instructions. Docker itself is not
// run: the image is never built by the tests.
func TestDockerfile(t *testing.T) {
	stages := parseDockerfile(t, "../../Dockerfile")
	if len(stages) < 2 {
		t.Fatalf("%d stages, want a build stage and a run stage", len(stages))
	}
	build, final := strings.Builder{}, stages[len(stages)-1]
	for _, s := range stages[:len(stages)-1] {
		for _, in := range s {
			build.WriteString(in.cmd + " " + in.args + "\n")
		}
	}
	for _, want := range []string{"ARG SOURCE_VERSION", "CGO_ENABLED=0 go build -trimpath", "-X main.sourceVersion=${SOURCE_VERSION}", "./cmd/rulebot"} {
		if !strings.Contains(build.String(), want) {
			t.Errorf("the build stage has no %q:\n%s", want, build.String())
		}
	}
	if !hasStringVar(t, "sourceVersion") {
		t.Error("package main has no string variable sourceVersion for -X")
	}
	last := map[string]string{}
	env := map[string]string{}
	for _, in := range final {
		last[in.cmd] = in.args
		if in.cmd == "ENV" {
			k, v, _ := strings.Cut(in.args, "=")
			env[k] = v
		}
	}
	if from := last["FROM"]; !strings.HasPrefix(from, "gcr.io/distroless/static") && from != "scratch" {
		t.Errorf("FROM %s: want a minimal image (distroless/static or scratch)", from)
	}
	user, _, _ := strings.Cut(last["USER"], ":")
	if user == "" || user == "root" || user == "0" {
		t.Errorf("USER %q: want a non-root user", last["USER"])
	}
	// Exec form, so that rulebot is PID 1 and receives docker's signals.
	var entry []string
	if err := json.Unmarshal([]byte(last["ENTRYPOINT"]), &entry); err != nil || !slices.Equal(entry, []string{"/rulebot", "run"}) {
		t.Errorf("ENTRYPOINT %s: want the exec form [\"/rulebot\", \"run\"] (%v)", last["ENTRYPOINT"], err)
	}
	if _, ok := last["CMD"]; ok {
		t.Errorf("CMD %s: the run flags are the user's (a -memory here would also warn when REDIS_URL is set)", last["CMD"])
	}
	if env["RULEBOT_RULES"] != "/rules/rules.yaml" {
		t.Errorf("ENV RULEBOT_RULES=%q, want /rules/rules.yaml", env["RULEBOT_RULES"])
	}
	// The memory file is -memory's default, relative to the working directory.
	if got := filepath.Join(last["WORKDIR"], memory.DefaultFile); got != "/data/rulebot.db" {
		t.Errorf("the memory file is %s, want /data/rulebot.db", got)
	}
	if last["VOLUME"] != "/data" {
		t.Errorf("VOLUME %q, want /data", last["VOLUME"])
	}
	read := envRead(t)
	for k := range env {
		if !slices.Contains(read, k) {
			t.Errorf("ENV %s: rulebot never reads it", k)
		}
	}
}

// TestStarter does what a team does with examples/starter, against this
// working tree instead of a published rulebot: `go test ./...` in a copy
// whose go.mod replaces github.com/rulebot/rulebot with this checkout. It
// needs no network: the dependencies are this module's, in the module cache.
func TestStarter(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go is not on PATH: the starter's go test cannot run")
	}
	if testing.Short() {
		t.Skip("-short: the starter's go test builds a module")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "ourbot")
	if err := os.CopyFS(dir, os.DirFS(filepath.Join(root, "examples/starter"))); err != nil {
		t.Fatal(err)
	}
	gomod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"// +heroku install github.com/rulebot/rulebot/cmd/rulebot\n",
		"// +heroku goVersion go1.26\n",
		"\ntool github.com/rulebot/rulebot/cmd/rulebot\n",
	} {
		if !strings.Contains(string(gomod), want) {
			t.Errorf("the starter's go.mod has no %q", want)
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "Procfile")); err != nil || string(b) != "worker: bin/rulebot run\n" {
		t.Errorf("the starter's Procfile is %q (%v)", b, err)
	}
	// The working tree may require newer dependencies than the starter's
	// go.sum lists: its own go.sum has their hashes.
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "go.sum"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(sum); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	goCmd := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(gobin, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off", "GOTOOLCHAIN=local")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go %s in the starter: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	goCmd("mod", "edit", "-replace", "github.com/rulebot/rulebot="+root)
	out := goCmd("test", "-count=1", "-v", "./...")
	if !strings.Contains(out, "--- PASS: TestRules") || !strings.Contains(out, "testdata/commands.yaml") {
		t.Errorf("the starter's go test ran no goldens:\n%s", out)
	}
	// The tool line: `go tool rulebot` is the rulebot this go.mod requires.
	goCmd("tool", "rulebot", "check", "rules.yaml")
}

// TestReadmeProcessTypes: every process type a README's heroku commands
// name (ps:scale TYPE=N, ps:restart TYPE) is one its Procfile declares;
// Heroku refuses the whole ps:scale command for an undeclared type
// ("Couldn't find that process type (web)").
func TestReadmeProcessTypes(t *testing.T) {
	cmdRe := regexp.MustCompile(`heroku ps:(scale|restart)((?: +[\w-]+(?:=\S+)?)+)`)
	for _, dir := range []string{"../..", "../../examples/starter"} {
		procfile, err := os.ReadFile(filepath.Join(dir, "Procfile"))
		if err != nil {
			t.Fatal(err)
		}
		declared := map[string]bool{}
		for _, line := range strings.Split(string(procfile), "\n") {
			if name, _, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(name) != "" {
				declared[strings.TrimSpace(name)] = true
			}
		}
		readme, err := os.ReadFile(filepath.Join(dir, "README.md"))
		if err != nil {
			t.Fatal(err)
		}
		found := 0
		for _, m := range cmdRe.FindAllStringSubmatch(string(readme), -1) {
			for _, arg := range strings.Fields(m[2]) {
				typ, _, _ := strings.Cut(arg, "=")
				found++
				if !declared[typ] {
					t.Errorf("%s/README.md: %q names process type %q, which %s/Procfile does not declare (it declares %v)",
						dir, m[0], typ, dir, slices.Sorted(maps.Keys(declared)))
				}
			}
		}
		if found == 0 {
			t.Errorf("%s/README.md has no heroku ps:scale or ps:restart command to check", dir)
		}
	}
}

// TestGoModHerokuVersion: the module's go.mod lets Heroku's Go buildpack
// pick the newest Go 1.26.x (a goVersion of the minor version only)
// instead of pinning the patch release it was written with, and its go
// directive asks for no later patch than 1.26.0.
func TestGoModHerokuVersion(t *testing.T) {
	gomod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	if m := regexp.MustCompile(`(?m)^// \+heroku goVersion (\S+)$`).FindSubmatch(gomod); m == nil || !regexp.MustCompile(`^go1\.\d+$`).Match(m[1]) {
		t.Errorf("go.mod's // +heroku goVersion is %q; want a minor version such as go1.26", m)
	}
	if m := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(gomod); m == nil || !regexp.MustCompile(`^1\.\d+(\.0)?$`).Match(m[1]) {
		t.Errorf("go.mod's go directive is %q; want 1.N or 1.N.0", m)
	}
}
