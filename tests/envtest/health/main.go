// Command health reads Kubernetes objects and prints how the two GitOps health readers judge
// each: Flux's (kstatus, sigs.k8s.io/cli-utils/pkg/kstatus/status) and Argo CD's (a custom health
// check in Lua, run by gopher-lua as Argo CD runs it). tests/gitops_health.rs feeds it the objects
// the operator wrote and checks that both agree.
//
// Usage: health KIND=SCRIPT.lua ... < objects.json
//
// stdin holds a JSON array of objects; for each, one JSON line goes to stdout:
// {"kind","name","kstatus","kstatusMessage","argo","argoMessage"}. An object whose kind has no
// script gets argo "" (Argo CD would not judge it).
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	lua "github.com/yuin/gopher-lua"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

type verdict struct {
	Kind           string `json:"kind"`
	Name           string `json:"name"`
	Kstatus        string `json:"kstatus"`
	KstatusMessage string `json:"kstatusMessage"`
	Argo           string `json:"argo"`
	ArgoMessage    string `json:"argoMessage"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "health:", err)
		os.Exit(1)
	}
}

func run() error {
	scripts := map[string]string{}
	for _, arg := range os.Args[1:] {
		kind, path, ok := strings.Cut(arg, "=")
		if !ok {
			return fmt.Errorf("argument %q is not KIND=SCRIPT.lua", arg)
		}
		source, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		scripts[kind] = string(source)
	}
	input, err := io.ReadAll(os.Stdin)
	if err != nil {
		return fmt.Errorf("read objects: %w", err)
	}
	// Kubernetes' own JSON decoding: whole numbers become int64, as kstatus expects.
	var objects []interface{}
	if err := utiljson.Unmarshal(input, &objects); err != nil {
		return fmt.Errorf("read objects: %w", err)
	}
	out := json.NewEncoder(os.Stdout)
	for _, item := range objects {
		object, ok := item.(map[string]interface{})
		if !ok {
			return fmt.Errorf("read objects: an item is not an object")
		}
		u := &unstructured.Unstructured{Object: object}
		result, err := status.Compute(u)
		if err != nil {
			return fmt.Errorf("kstatus of %s/%s: %w", u.GetKind(), u.GetName(), err)
		}
		v := verdict{Kind: u.GetKind(), Name: u.GetName(), Kstatus: result.Status.String(), KstatusMessage: result.Message}
		if script, ok := scripts[u.GetKind()]; ok {
			v.Argo, v.ArgoMessage, err = argoHealth(script, object)
			if err != nil {
				return fmt.Errorf("argo health of %s/%s: %w", u.GetKind(), u.GetName(), err)
			}
		}
		if err := out.Encode(v); err != nil {
			return err
		}
	}
	return nil
}

// argoHealth runs a health script the way Argo CD does: the object as the global `obj`, only
// the safe standard libraries open, and the returned table's `status` and `message`.
func argoHealth(script string, object map[string]interface{}) (string, string, error) {
	L := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer L.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{{lua.LoadLibName, lua.OpenPackage}, {lua.BaseLibName, lua.OpenBase}, {lua.TabLibName, lua.OpenTable}, {lua.StringLibName, lua.OpenString}, {lua.MathLibName, lua.OpenMath}} {
		L.Push(L.NewFunction(lib.open))
		L.Push(lua.LString(lib.name))
		L.Call(1, 0)
	}
	L.SetGlobal("obj", toLua(L, object))
	if err := L.DoString(script); err != nil {
		return "", "", err
	}
	table, ok := L.Get(-1).(*lua.LTable)
	if !ok {
		return "", "", fmt.Errorf("the script returned %s, not a table", L.Get(-1).Type())
	}
	return lua.LVAsString(table.RawGetString("status")), lua.LVAsString(table.RawGetString("message")), nil
}

// toLua converts decoded JSON as Argo CD does: objects and arrays become tables (arrays 1-based).
func toLua(L *lua.LState, value interface{}) lua.LValue {
	switch v := value.(type) {
	case nil:
		return lua.LNil
	case bool:
		return lua.LBool(v)
	case int64:
		return lua.LNumber(v)
	case float64:
		return lua.LNumber(v)
	case string:
		return lua.LString(v)
	case []interface{}:
		t := L.NewTable()
		for _, item := range v {
			t.Append(toLua(L, item))
		}
		return t
	case map[string]interface{}:
		t := L.NewTable()
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			t.RawSetString(k, toLua(L, v[k]))
		}
		return t
	default:
		return lua.LString(fmt.Sprint(v))
	}
}
