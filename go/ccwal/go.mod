module github.com/ccwal/ccwal/go/ccwal

go 1.22
