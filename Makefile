# Thin wrappers over scripts/; see README.md.
.PHONY: demo test build clean

demo:
	scripts/demo.sh

test:
	scripts/test.sh

build:
	scripts/setup.sh
	cmake -S . -B build/dev -G Ninja -DCMAKE_BUILD_TYPE=Debug
	cmake --build build/dev

clean:
	rm -rf build
