// Command etcd is the upstream etcd server, built from go.etcd.io/etcd/server/v3 as a
// library: the same entry point as etcd's own main.go, without the repository's
// workspace of local replaces.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
