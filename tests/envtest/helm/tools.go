//go:build tools

// Package tools pins the helm command the chart tests run (lint, template) from its official module.
package tools

import (
	_ "helm.sh/helm/v4/cmd/helm"
)
