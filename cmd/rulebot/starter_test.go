package main

import (
	"archive/zip"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestStarterSetUp follows step 2 of the starter's README, "Set rulebot's
// version", as a team does: it runs the README's own commands in a copy of
// examples/starter, with @v1.2.3 standing for a version that a module proxy
// on disk serves (this working tree, zipped as the go command fetches a
// module, as github.com/rulebot/rulebot v0.0.1). The placeholder version
// the starter ships must give way, and the module must be one that go get
// accepts. It needs no network: the other modules come from the module
// cache's downloads.
func TestStarterSetUp(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go is not on PATH")
	}
	if testing.Short() {
		t.Skip("-short: the starter's set-up builds a module")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(root, "examples/starter/README.md"))
	if err != nil {
		t.Fatal(err)
	}
	steps := readmeCommands(t, string(readme), "go get github.com/rulebot/rulebot@")

	tmp := t.TempDir()
	proxy := filepath.Join(tmp, "proxy")
	serveModule(t, proxy, root, "github.com/rulebot/rulebot", "v0.0.1")
	dir := filepath.Join(tmp, "ourbot")
	if err := os.CopyFS(dir, os.DirFS(filepath.Join(root, "examples/starter"))); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(gobin, "env", "GOMODCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	downloads := filepath.Join(strings.TrimSpace(string(out)), "cache", "download")
	env := append(os.Environ(),
		"GOPROXY=file://"+filepath.ToSlash(proxy)+",file://"+filepath.ToSlash(downloads),
		"GOMODCACHE="+filepath.Join(tmp, "modcache"), // v0.0.1 is this tree, not a release: keep it out of the real cache
		"GOFLAGS=-modcacherw", "GOSUMDB=off", "GOWORK=off", "GOTOOLCHAIN=local")
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(gobin, args...)
		cmd.Dir, cmd.Env = dir, env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go %s in the starter: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	for _, step := range steps {
		run(strings.Fields(strings.ReplaceAll(step, "@v1.2.3", "@v0.0.1"))[1:]...)
	}
	gomod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^require github.com/rulebot/rulebot v0.0.1$`).Match(gomod) {
		t.Errorf("after the README's steps go.mod does not require v0.0.1:\n%s", gomod)
	}
	// Every package the starter's tests and `go tool rulebot` need now
	// resolves (TestStarter builds and runs them, with a replace).
	run("list", "-deps", "-test", "./...", "github.com/rulebot/rulebot/cmd/rulebot")
}

// readmeCommands returns the commands of the code block of readme that
// holds marker, without their comments.
func readmeCommands(t *testing.T, readme, marker string) []string {
	t.Helper()
	for block := range strings.SplitSeq(readme, "```") {
		if !strings.Contains(block, marker) {
			continue
		}
		var cmds []string
		for line := range strings.Lines(block) {
			line, _, _ = strings.Cut(line, "#")
			if line = strings.TrimSpace(line); strings.HasPrefix(line, "go ") {
				cmds = append(cmds, line)
			}
		}
		return cmds
	}
	t.Fatalf("README.md has no code block with %q", marker)
	return nil
}

// serveModule lays out, in the module proxy directory proxy, the module in
// dir as path@version: its list, .info, .mod and .zip. The zip holds dir's
// regular files less .git and nested modules, as a module zip must.
func serveModule(t *testing.T, proxy, dir, path, version string) {
	t.Helper()
	at := filepath.Join(proxy, filepath.FromSlash(path), "@v")
	if err := os.MkdirAll(at, 0o755); err != nil {
		t.Fatal(err)
	}
	gomod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{
		"list":            version + "\n",
		version + ".info": `{"Version":"` + version + `","Time":"2026-01-01T00:00:00Z"}`,
		version + ".mod":  string(gomod),
	} {
		if err := os.WriteFile(filepath.Join(at, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.Create(filepath.Join(at, version+".zip"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zw := zip.NewWriter(f)
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		switch _, err := os.Stat(filepath.Join(p, "go.mod")); {
		case d.Name() == ".git" && d.IsDir():
			return filepath.SkipDir
		case d.IsDir() && p != dir && err == nil: // a module of its own: examples/starter
			return filepath.SkipDir
		case d.Name() == ".git" || !d.Type().IsRegular(): // a worktree's .git file, symlinks
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		w, err := zw.Create(path + "@" + version + "/" + filepath.ToSlash(rel))
		if err != nil {
			return err
		}
		_, err = w.Write(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
}
