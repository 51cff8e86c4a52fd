# Array inputs: numbers joined by a separator, a list of files, and output by stdout and a wildcard.
cwlVersion: v1.2
class: CommandLineTool
baseCommand: cut
requirements:
  DockerRequirement:
    dockerPull: debian:bookworm-slim
inputs:
  columns:
    type: int[]
    inputBinding: {prefix: -f, itemSeparator: ",", position: 1}
  table:
    type: File
    inputBinding: {position: 2}
  more_tables:
    type: File[]?
    inputBinding: {position: 3}
stdout: columns.tsv
outputs:
  picked:
    type: stdout
  logs:
    type: File[]
    outputBinding: {glob: "*.log"}
