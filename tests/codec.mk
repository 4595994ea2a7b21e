# codec tests: written by the codec work
