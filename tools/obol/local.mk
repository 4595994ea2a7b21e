# the obol command-line tool: being written
