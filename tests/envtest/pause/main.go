// Command pause is the sandbox ("pause") container of the local cluster (scripts/cluster.sh): no
// image can be pulled there, so containerd's CRI runs this instead of registry.k8s.io/pause.
//
// It holds the pod's namespaces open: it waits for SIGTERM or SIGINT and exits 0, and as PID 1 of a
// pod sharing its process namespace it reaps every child that is reparented to it.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

var version = "dev"

func main() {
	if len(os.Args) > 1 && (os.Args[1] == "-v" || os.Args[1] == "--version") {
		fmt.Println("pause (digital-recovery)", version)
		return
	}
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for sig := range signals {
		if sig != syscall.SIGCHLD {
			fmt.Fprintf(os.Stderr, "pause: %v, exiting\n", sig)
			os.Exit(0)
		}
		// One SIGCHLD may stand for several exited children.
		for {
			var status syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
