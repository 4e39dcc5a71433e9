// argocd-health computes the Argo CD health of Kubernetes objects with Argo CD's own code: the
// argocd-cm patch is merged into an argocd-cm ConfigMap (as kustomize does with Argo CD's install),
// Argo CD's SettingsManager reads the resource customizations from it, and gitops-engine's
// GetResourceHealth runs them through Argo CD's Lua VM (util/lua), exactly as the application
// controller does. Usage:
//
//	argocd-health -argocd-cm deploy/argocd/argocd-cm-patch.yaml < objects.json
//
// stdin holds a JSON array of objects; stdout gets a JSON array, one health per object:
// {"status": ..., "message": ..., "error": ...} (error only when Argo CD reports one, which it
// shows as Unknown).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/argoproj/argo-cd/gitops-engine/v3/pkg/health"
	log "github.com/sirupsen/logrus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/yaml"

	"github.com/argoproj/argo-cd/v3/common"
	"github.com/argoproj/argo-cd/v3/util/lua"
	"github.com/argoproj/argo-cd/v3/util/settings"
)

const namespace = "argocd"

type result struct {
	Status  string `json:"status"`
	Message string `json:"message"`
	Error   string `json:"error,omitempty"`
}

// argocdCM is argocd-cm as Argo CD's install manifests ship it (labelled so the SettingsManager
// sees it), with the patch's data merged in.
func argocdCM(patchFile string) (*corev1.ConfigMap, error) {
	raw, err := os.ReadFile(patchFile)
	if err != nil {
		return nil, err
	}
	var patch corev1.ConfigMap
	if err := yaml.UnmarshalStrict(raw, &patch); err != nil {
		return nil, fmt.Errorf("%s: %w", patchFile, err)
	}
	if patch.Name != common.ArgoCDConfigMapName {
		return nil, fmt.Errorf("%s patches %q, not %s", patchFile, patch.Name, common.ArgoCDConfigMapName)
	}
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Name:      common.ArgoCDConfigMapName,
			Namespace: namespace,
			Labels:    map[string]string{"app.kubernetes.io/part-of": "argocd"},
		},
		Data: patch.Data,
	}, nil
}

func run() error {
	patchFile := flag.String("argocd-cm", "", "the argocd-cm patch (a ConfigMap YAML) holding the health customizations")
	flag.Parse()
	if *patchFile == "" {
		return fmt.Errorf("-argocd-cm is required")
	}
	log.SetOutput(io.Discard) // the SettingsManager's informer chatter is not the answer
	cm, err := argocdCM(*patchFile)
	if err != nil {
		return err
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: common.ArgoCDSecretName, Namespace: namespace}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mgr := settings.NewSettingsManager(ctx, fake.NewClientset(cm, secret), namespace)
	overrides, err := mgr.GetResourceOverrides()
	if err != nil {
		return fmt.Errorf("reading the resource customizations: %w", err)
	}
	var objects []map[string]any
	if err := json.NewDecoder(os.Stdin).Decode(&objects); err != nil {
		return fmt.Errorf("stdin must hold a JSON array of objects: %w", err)
	}
	results := make([]result, 0, len(objects))
	for _, object := range objects {
		obj := &unstructured.Unstructured{Object: object}
		// What the application controller calls for every live resource (controller/health.go).
		hs, err := health.GetResourceHealth(obj, lua.ResourceHealthOverrides(overrides))
		r := result{}
		if hs != nil {
			r.Status, r.Message = string(hs.Status), hs.Message
		}
		if err != nil {
			r.Error = err.Error()
		}
		results = append(results, r)
	}
	return json.NewEncoder(os.Stdout).Encode(results)
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "argocd-health:", err)
		os.Exit(1)
	}
}
