# Property measurements and the per-claim verdict (decision trace, card, plot).


rule check_property:
    input:
        claim=claim_file,
        paper=paper_file,
        runs=property_runs,
    output:
        table="results/properties/{scale}/{claim}.parquet",
        status="results/properties/{scale}/{claim}.json",
    params:
        code=property_code_version,
    priority: SCORING_PRIORITY
    log:
        "logs/check_property/{scale}/{claim}.log",
    conda:
        "../envs/repro.yaml"
    shell:
        """
        python -S -m repro check-property --claim {input.claim:q} --scale {wildcards.scale} \
            --out {output.table:q} --status {output.status:q} > {log:q} 2>&1
        """


# The two rules with a job per claim take their inputs from one function each (unpack): Snakemake's cost to plan a
# job grows with the functions it calls (benchmarks/plan_scaling.py).
rule decide_claim:
    input:
        unpack(decision_inputs),
    output:
        decision="results/decisions/{scale}/{claim}.json",
    params:
        code=decision_code_version,
        papers=PAPERS,
    priority: SCORING_PRIORITY
    log:
        "logs/decide_claim/{scale}/{claim}.log",
    conda:
        "../envs/repro.yaml"
    shell:
        """
        python -S -m repro decide --claim {input.claim:q} --scale {wildcards.scale} --out {output.decision:q} \
            --papers {params.papers:q} > {log:q} 2>&1
        """


# A paper's reproduction claims are one Holm family: their p-values gathered in one file (rule family_pvalues, read
# only by holm_family), then adjusted in the file each of their verdicts reads. Two jobs, not one: a job whose
# inputs are the N decisions and whose output N verdicts read costs Snakemake N² comparisons to plan.
rule family_pvalues:
    input:
        decisions=family_members,
    output:
        pvalues="results/families/{scale}/{paper}-pvalues.json",
    params:
        code=verdict_code_version,
    priority: SCORING_PRIORITY
    log:
        "logs/family_pvalues/{scale}/{paper}.log",
    conda:
        "../envs/repro.yaml"
    shell:
        """
        python -S -m repro family-pvalues --paper {wildcards.paper} --scale {wildcards.scale} --out {output.pvalues:q} \
            {input.decisions:q} > {log:q} 2>&1
        """


rule holm_family:
    input:
        pvalues="results/families/{scale}/{paper}-pvalues.json",
    output:
        family="results/families/{scale}/{paper}.json",
    params:
        code=verdict_code_version,
    priority: SCORING_PRIORITY
    log:
        "logs/holm_family/{scale}/{paper}.log",
    conda:
        "../envs/repro.yaml"
    shell:
        """
        python -S -m repro holm-family --pvalues {input.pvalues:q} --out {output.family:q} > {log:q} 2>&1
        """


# Holm across the paper's reproduction claims, the rule's preregistration status and (optionally) the decision
# under a second numeric environment turn a decision into the verdict.
rule decide_verdict:
    input:
        unpack(verdict_inputs),
    output:
        json="results/verdicts/{scale}/{claim}.json",
        card="results/verdicts/{scale}/{claim}.md",
        plot=report(
            "results/verdicts/{scale}/{claim}.png",
            category="Verdicts",
            subcategory="{scale}",
            labels={"claim": "{claim}", "scale": "{scale}"},
        ),
    params:
        verdict=verdict_params,
    priority: SCORING_PRIORITY
    log:
        "logs/decide_verdict/{scale}/{claim}.log",
    conda:
        "../envs/repro.yaml"
    shell:
        """
        python -S -m repro finalize --claim {input.claim:q} --scale {wildcards.scale} --decision {input.decision:q} \
            {params.verdict[family]} {params.verdict[reference]} --out-json {output.json:q} --out-card {output.card:q} \
            --out-plot {output.plot:q} > {log:q} 2>&1
        """
