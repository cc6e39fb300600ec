/** The Kubernetes providers `deploy/kubernetes/overlays` has an overlay for. */
export const PROVIDERS = ['gke', 'eks', 'aks', 'generic'] as const;
export type Provider = (typeof PROVIDERS)[number];

export interface ProviderFacts {
  /** Seconds between a spot reclaim notice and the machine going away; workers' grace covers it. */
  noticeSeconds: number;
  /** Node label that `--gpu-type` selects on, and an example value. */
  gpuTypeLabel: string;
  gpuTypeExample: string;
}

export const PROVIDER_FACTS: Record<Provider, ProviderFacts> = {
  // GCE preemption notice: 30 s (ACPI soft off, then hard off).
  gke: { noticeSeconds: 30, gpuTypeLabel: 'cloud.google.com/gke-accelerator', gpuTypeExample: 'nvidia-l4' },
  // EC2 spot interruption notice: 2 min. Karpenter sets this label; give it to managed node groups yourself.
  eks: { noticeSeconds: 120, gpuTypeLabel: 'karpenter.k8s.aws/instance-gpu-name', gpuTypeExample: 'l4' },
  // Azure Scheduled Events Preempt: at least 30 s. AKS labels no GPU model: the VM size stands for it.
  aks: {
    noticeSeconds: 30,
    gpuTypeLabel: 'node.kubernetes.io/instance-type',
    gpuTypeExample: 'Standard_NC4as_T4_v3',
  },
  // Unknown clouds: the longest notice of the ones above. The label is NVIDIA GPU Feature Discovery's.
  generic: { noticeSeconds: 120, gpuTypeLabel: 'nvidia.com/gpu.product', gpuTypeExample: 'NVIDIA-L4' },
};
