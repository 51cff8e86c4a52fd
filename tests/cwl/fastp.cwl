# A File input given with a prefix, an optional text input, two output files the command names.
cwlVersion: v1.2
class: CommandLineTool
label: Trims and filters FASTQ reads
baseCommand: fastp
hints:
  DockerRequirement:
    dockerPull: quay.io/biocontainers/fastp:0.23.4--hadf994f_2
requirements:
  ResourceRequirement:
    coresMin: 4
    ramMin: 8000
inputs:
  reads:
    type: File
    label: The reads, FASTQ
    inputBinding: {prefix: -i}
  adapter:
    type: string?
    inputBinding: {prefix: --adapter_sequence, separate: false}
  min_length:
    type: int
    default: 15
    inputBinding: {prefix: --length_required}
arguments: [-o, trimmed.fastq.gz, --json, report.json]
outputs:
  trimmed:
    type: File
    outputBinding: {glob: trimmed.fastq.gz}
  report:
    type: File
    outputBinding: {glob: report.json}
