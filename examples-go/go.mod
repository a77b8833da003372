module github.com/ccwal/ccwal/examples-go

go 1.25.0

require (
	github.com/ClusterCockpit/cc-lib/v2 v2.12.0
	github.com/ccwal/ccwal/go/ccwal v0.0.0
)

require (
	github.com/fsnotify/fsnotify v1.9.0 // indirect
	github.com/santhosh-tekuri/jsonschema/v5 v5.3.1 // indirect
	golang.org/x/sys v0.43.0 // indirect
)

replace github.com/ccwal/ccwal/go/ccwal => ../go/ccwal
