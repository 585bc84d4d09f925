module kserve-vault-sync/bench/floor_go

go 1.22
