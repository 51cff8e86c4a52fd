cwlVersion: v1.2
class: CommandLineTool
label: Counts the reads of a BAM file by flag
baseCommand: [samtools, flagstat]
requirements:
  DockerRequirement:
    dockerPull: quay.io/biocontainers/samtools:1.21--h50ea8bc_0
  ResourceRequirement:
    coresMin: 2
    ramMin: 4000
inputs:
  threads:
    type: int?
    inputBinding: {prefix: --threads, position: 1}
  verbose:
    type: boolean
    default: false
    inputBinding: {prefix: -v}
  bam:
    type: File
    inputBinding: {position: 2}
  regions:
    type: string[]?
    inputBinding: {prefix: -r, position: 3}
arguments: [-O, tsv]
stdout: flagstat.tsv
outputs:
  stats:
    type: stdout
