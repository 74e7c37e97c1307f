# The verdict table of a scale (TSV, one row per claim), the HTML report, and the table alone as HTML: Snakemake's
# report shows it inline (it offers the TSV as a download, and shows nothing for the whole report, over 2 MB at ci).


rule summarize_verdicts:
    input:
        verdicts=verdict_files,
    output:
        tsv=report("results/verdicts-{scale}.tsv", category="Summary", labels={"table": "verdicts", "scale": "{scale}"}),
        html="results/report-{scale}.html",
        table=report(
            "results/verdicts-{scale}.html", category="Summary", labels={"table": "verdict table", "scale": "{scale}"}
        ),
    priority: SCORING_PRIORITY
    log:
        "logs/summarize_verdicts/{scale}.log",
    conda:
        "../envs/repro.yaml"
    shell:
        """
        python -S -m repro summarize --scale {wildcards.scale} --out-tsv {output.tsv:q} --out-html {output.html:q} \
            --out-table-html {output.table:q} \
            {input.verdicts:q} > {log:q} 2>&1
        """
