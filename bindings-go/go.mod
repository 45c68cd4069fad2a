module samering

go 1.19
